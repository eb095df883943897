/**
 * Virtual meetings: the meeting itself, one row per participant session, an append-only event log, a durable
 * outbox for provider calls that must eventually happen (ending the room), the ids of webhooks already
 * processed (providers redeliver), and each organization's video provider settings.
 *
 * Times are written by the application clock, not now(), so the workflow's rules (idle end, overrun, retry
 * backoff) can be tested without waiting.
 */
export const sql = `
CREATE TABLE virtual_meetings (
  id uuid PRIMARY KEY,
  org_id text NOT NULL,
  appointment_id text,
  encounter_id text,
  host_practitioner_id text NOT NULL,
  host_display_name text,
  patient_id text,
  provider text NOT NULL,
  meeting_id text NOT NULL,
  meeting_code text NOT NULL,
  room_url text,
  public_link text NOT NULL,
  status text NOT NULL CHECK (status IN ('scheduled', 'active', 'ended', 'cancelled')),
  scheduled_start timestamptz,
  scheduled_end timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  provider_session_closed_at timestamptz,
  room_details jsonb NOT NULL DEFAULT '{}',
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX virtual_meetings_code ON virtual_meetings (meeting_code);
-- 100ms creates rooms by name as an upsert, so an ended meeting and its successor may share a room id;
-- only one open meeting may hold it.
CREATE UNIQUE INDEX virtual_meetings_open_room ON virtual_meetings (provider, meeting_id) WHERE status IN ('scheduled', 'active');
CREATE INDEX virtual_meetings_room ON virtual_meetings (provider, meeting_id, created_at);
-- At most one open meeting per Appointment: concurrent creates for the same Appointment cannot both insert.
CREATE UNIQUE INDEX virtual_meetings_open_appointment ON virtual_meetings (org_id, appointment_id)
  WHERE appointment_id IS NOT NULL AND status IN ('scheduled', 'active');
CREATE INDEX virtual_meetings_org_created ON virtual_meetings (org_id, created_at, id);
CREATE INDEX virtual_meetings_open ON virtual_meetings (status, scheduled_end) WHERE status IN ('scheduled', 'active');

-- One row per join session; join tokens are never stored.
CREATE TABLE virtual_meeting_participants (
  id uuid PRIMARY KEY,
  meeting_id uuid NOT NULL REFERENCES virtual_meetings (id),
  user_id text,
  user_type text NOT NULL CHECK (user_type IN ('practitioner', 'patient', 'guest')),
  display_name text NOT NULL,
  role text NOT NULL CHECK (role IN ('host', 'patient', 'guest')),
  provider_peer_id text,
  joined_at timestamptz NOT NULL,
  left_at timestamptz,
  duration_seconds integer
);
CREATE INDEX virtual_meeting_participants_meeting ON virtual_meeting_participants (meeting_id, joined_at);
CREATE INDEX virtual_meeting_participants_open ON virtual_meeting_participants (meeting_id) WHERE left_at IS NULL;
CREATE INDEX virtual_meeting_participants_peer ON virtual_meeting_participants (provider_peer_id) WHERE provider_peer_id IS NOT NULL;

-- Append-only: rows are inserted, never updated or deleted. seq orders events written in the same millisecond.
CREATE TABLE virtual_meeting_events (
  seq bigserial PRIMARY KEY,
  meeting_id uuid NOT NULL REFERENCES virtual_meetings (id),
  event_type text NOT NULL,
  event_data jsonb NOT NULL DEFAULT '{}',
  triggered_by text,
  triggered_by_type text NOT NULL CHECK (triggered_by_type IN ('user', 'system', 'provider')),
  created_at timestamptz NOT NULL
);
CREATE INDEX virtual_meeting_events_meeting ON virtual_meeting_events (meeting_id, seq);

-- Provider calls that must happen after a local commit; written in the same transaction as the change that
-- needs them, retried with backoff until they succeed.
CREATE TABLE provider_outbox (
  id uuid PRIMARY KEY,
  org_id text NOT NULL,
  meeting_id uuid REFERENCES virtual_meetings (id),
  provider text NOT NULL,
  action text NOT NULL CHECK (action IN ('end_room')),
  payload jsonb NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  created_at timestamptz NOT NULL,
  completed_at timestamptz
);
CREATE INDEX provider_outbox_due ON provider_outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE provider_webhook_receipts (
  provider text NOT NULL,
  event_id text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (provider, event_id)
);

-- Secrets are stored sealed (encrypted with the server's key); they are never returned by the API.
CREATE TABLE video_integrations (
  org_id text PRIMARY KEY,
  provider text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}',
  sealed_secrets text,
  updated_by text,
  updated_at timestamptz NOT NULL
);
`;
