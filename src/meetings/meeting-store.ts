import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import { runParts, type StatementPart } from '../db/statement.js';
import type { ParticipantRole, VideoProviderName } from './providers/types.js';
import type { Meeting, MeetingEvent, MeetingEventType, MeetingStatus, Participant, Trigger, UserType } from './types.js';

/**
 * The SQL of the meeting tables, in one place. Every function takes the Queryable to run on, so the workflow
 * decides what shares a transaction. Times come from the caller's clock.
 */

export interface MeetingRow {
  id: string;
  org_id: string;
  appointment_id: string | null;
  encounter_id: string | null;
  host_practitioner_id: string;
  host_display_name: string | null;
  patient_id: string | null;
  provider: VideoProviderName;
  meeting_id: string;
  meeting_code: string;
  room_url: string | null;
  public_link: string;
  status: MeetingStatus;
  scheduled_start: Date | string | null;
  scheduled_end: Date | string | null;
  started_at: Date | string | null;
  ended_at: Date | string | null;
  provider_session_closed_at: Date | string | null;
  room_details: Record<string, unknown>;
  created_by: string;
  created_at: Date | string;
  updated_at: Date | string;
}

interface ParticipantRow {
  id: string;
  meeting_id: string;
  user_id: string | null;
  user_type: UserType;
  display_name: string;
  role: ParticipantRole;
  provider_peer_id: string | null;
  joined_at: Date | string;
  left_at: Date | string | null;
  duration_seconds: number | null;
}

const iso = (v: Date | string | null | undefined): string | undefined => (v == null ? undefined : new Date(v).toISOString());

export function toMeeting(r: MeetingRow): Meeting {
  const m: Meeting = {
    id: r.id,
    orgId: r.org_id,
    hostPractitionerId: r.host_practitioner_id,
    provider: r.provider,
    providerRoomId: r.meeting_id,
    meetingCode: r.meeting_code,
    publicLink: r.public_link,
    status: r.status,
    createdBy: r.created_by,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
  if (r.appointment_id) m.appointmentId = r.appointment_id;
  if (r.encounter_id) m.encounterId = r.encounter_id;
  if (r.host_display_name) m.hostDisplayName = r.host_display_name;
  if (r.patient_id) m.patientId = r.patient_id;
  if (r.room_url) m.roomUrl = r.room_url;
  if (r.scheduled_start) m.scheduledStart = iso(r.scheduled_start);
  if (r.scheduled_end) m.scheduledEnd = iso(r.scheduled_end);
  if (r.started_at) m.startedAt = iso(r.started_at);
  if (r.ended_at) m.endedAt = iso(r.ended_at);
  return m;
}

function toParticipant(r: ParticipantRow): Participant {
  const p: Participant = {
    id: r.id,
    meetingId: r.meeting_id,
    userType: r.user_type,
    displayName: r.display_name,
    role: r.role,
    joinedAt: iso(r.joined_at)!,
  };
  if (r.user_id) p.userId = r.user_id;
  if (r.provider_peer_id) p.providerPeerId = r.provider_peer_id;
  if (r.left_at) p.leftAt = iso(r.left_at);
  if (r.duration_seconds != null) p.durationSeconds = r.duration_seconds;
  return p;
}

export interface NewMeeting {
  id: string;
  orgId: string;
  appointmentId?: string;
  hostPractitionerId: string;
  hostDisplayName?: string;
  patientId?: string;
  provider: VideoProviderName;
  roomId: string;
  code: string;
  roomUrl?: string;
  publicLink: string;
  scheduledStart?: string;
  scheduledEnd?: string;
  roomDetails: Record<string, unknown>;
  createdBy: string;
  now: Date;
}

export async function insertMeeting(q: Queryable, m: NewMeeting): Promise<MeetingRow> {
  return (await runParts<MeetingRow>(q, [insertMeetingPart(m)])).rows[0];
}

/** The insert of a new meeting, returning its row. */
export function insertMeetingPart(m: NewMeeting): StatementPart {
  return {
    sql: `INSERT INTO virtual_meetings
       (id, org_id, appointment_id, host_practitioner_id, host_display_name, patient_id, provider, meeting_id, meeting_code,
        room_url, public_link, status, scheduled_start, scheduled_end, room_details, created_by, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled', $12, $13, $14, $15, $16, $16)
     RETURNING *`,
    params: [
      m.id,
      m.orgId,
      m.appointmentId ?? null,
      m.hostPractitionerId,
      m.hostDisplayName ?? null,
      m.patientId ?? null,
      m.provider,
      m.roomId,
      m.code,
      m.roomUrl ?? null,
      m.publicLink,
      m.scheduledStart ?? null,
      m.scheduledEnd ?? null,
      JSON.stringify(m.roomDetails),
      m.createdBy,
      m.now,
    ],
  };
}

export async function findMeeting(q: Queryable, orgId: string, id: string, opts: { lock?: boolean } = {}): Promise<MeetingRow | undefined> {
  if (!isUuid(id)) return undefined;
  // By the primary key alone, the org compared here: see findMeetingAnyOrg.
  const row = await findMeetingAnyOrg(q, id, opts);
  return row?.org_id === orgId ? row : undefined;
}

/**
 * By id alone: for callers that hold a participant id rather than an org (public reconnect and leave). The
 * WHERE clause names the primary key only, so the prepared statement's generic plan cannot pick another index.
 */
export async function findMeetingAnyOrg(q: Queryable, id: string, opts: { lock?: boolean } = {}): Promise<MeetingRow | undefined> {
  if (!isUuid(id)) return undefined;
  const r = await q.query<MeetingRow>(`SELECT * FROM virtual_meetings WHERE id = $1${opts.lock ? ' FOR UPDATE' : ''}`, [id], { prepare: true });
  return r.rows[0];
}

export async function findMeetingByCode(q: Queryable, code: string, opts: { lock?: boolean } = {}): Promise<MeetingRow | undefined> {
  const r = await q.query<MeetingRow>(`SELECT * FROM virtual_meetings WHERE meeting_code = $1${opts.lock ? ' FOR UPDATE' : ''}`, [code], {
    prepare: true,
  });
  return r.rows[0];
}

export async function findOpenMeetingForAppointment(q: Queryable, orgId: string, appointmentId: string): Promise<MeetingRow | undefined> {
  const r = await q.query<MeetingRow>(
    `SELECT * FROM virtual_meetings
     WHERE org_id = $1 AND appointment_id = $2 AND status IN ('scheduled', 'active')`,
    [orgId, appointmentId],
  );
  return r.rows[0];
}

/** The meeting a provider's room id belongs to: the open one when there is one, else the latest. */
export async function findMeetingByRoom(
  q: Queryable,
  provider: VideoProviderName,
  roomId: string,
  opts: { lock?: boolean } = {},
): Promise<MeetingRow | undefined> {
  const r = await q.query<{ id: string }>(
    `SELECT id FROM virtual_meetings WHERE provider = $1 AND meeting_id = $2
     ORDER BY (status IN ('scheduled', 'active')) DESC, created_at DESC LIMIT 1`,
    [provider, roomId],
  );
  if (!r.rows[0]) return undefined;
  return findMeetingAnyOrg(q, r.rows[0].id, opts);
}

export interface MeetingFilter {
  orgId: string;
  status?: MeetingStatus;
  from?: string;
  to?: string;
  patientId?: string;
  limit: number;
  offset: number;
}

export async function listMeetings(q: Queryable, f: MeetingFilter): Promise<MeetingRow[]> {
  const where = ['org_id = $1'];
  const params: unknown[] = [f.orgId];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (f.status) add('status = ?', f.status);
  if (f.from) add('COALESCE(scheduled_start, created_at) >= ?', f.from);
  if (f.to) add('COALESCE(scheduled_start, created_at) < ?', f.to);
  if (f.patientId) add('patient_id = ?', f.patientId);
  params.push(f.limit, f.offset);
  const r = await q.query<MeetingRow>(
    `SELECT * FROM virtual_meetings WHERE ${where.join(' AND ')}
     ORDER BY COALESCE(scheduled_start, created_at) DESC, id DESC LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  return r.rows;
}

/** The meeting started now, with its Encounter. */
export function startedPart(id: string, encounterId: string | undefined, now: Date): StatementPart {
  return {
    sql: `UPDATE virtual_meetings SET status = 'active', started_at = $2, encounter_id = $3, updated_at = $2 WHERE id = $1`,
    params: [id, now, encounterId ?? null],
  };
}

/**
 * Ends a meeting's rows in one statement: its open sessions closed at `now` (returned, oldest first), the
 * meeting marked ended, and whether anyone but the host ever had a session (fulfilled or noshow).
 */
export async function markEnded(q: Queryable, id: string, now: Date): Promise<{ closed: Participant[]; patientOrGuestTookPart: boolean }> {
  const r = await q.query<ParticipantRow & { took_part: boolean }>(
    `WITH closed AS (
       UPDATE virtual_meeting_participants SET ${CLOSE_SESSION_SET}
       WHERE meeting_id = $1 AND left_at IS NULL RETURNING *),
     ended AS (UPDATE virtual_meetings SET status = 'ended', ended_at = $2, updated_at = $2 WHERE id = $1)
     SELECT t.took_part, c.*
     FROM (SELECT EXISTS (SELECT 1 FROM virtual_meeting_participants WHERE meeting_id = $1 AND role IN ('patient', 'guest')) AS took_part) t
     LEFT JOIN closed c ON true`,
    [id, now],
    { prepare: true },
  );
  const closed = r.rows.filter((row) => row.id !== null).map(toParticipant);
  return { closed: closed.sort((a, b) => a.joinedAt.localeCompare(b.joinedAt)), patientOrGuestTookPart: r.rows[0].took_part };
}

/** An end-room call of the outbox, as delivered: the item claimed for its first attempt. */
export interface OutboxItem {
  id: string;
  org_id: string;
  meeting_id: string | null;
  provider: VideoProviderName;
  payload: { roomId: string; reason: string };
  attempts: number;
}

/** How long a claimed outbox item stays away from the other servers before it counts as abandoned. */
export const OUTBOX_LEASE_MS = 120_000;

/**
 * The provider's end-room call, queued in the transaction that ends or cancels the meeting so that it cannot be
 * lost. It is inserted already claimed for its first attempt by the server whose transaction commits it, which
 * delivers it right after the commit; should that server stop first, the lease runs out and the scheduler of
 * any server delivers it.
 */
export function endRoomPart(meeting: MeetingRow, reason: string, now: Date): { part: StatementPart; item: OutboxItem } {
  const item: OutboxItem = {
    id: randomUUID(),
    org_id: meeting.org_id,
    meeting_id: meeting.id,
    provider: meeting.provider,
    payload: { roomId: meeting.meeting_id, reason },
    attempts: 1,
  };
  return {
    item,
    part: {
      sql: `INSERT INTO provider_outbox (id, org_id, meeting_id, provider, action, payload, attempts, next_attempt_at, created_at)
            VALUES ($1, $2, $3, $4, 'end_room', $5, 1, $6, $7)`,
      params: [item.id, item.org_id, item.meeting_id, item.provider, JSON.stringify(item.payload), new Date(now.getTime() + OUTBOX_LEASE_MS), now],
    },
  };
}

export async function setProviderSessionClosed(q: Queryable, id: string, at: Date | null, now: Date): Promise<void> {
  await q.query('UPDATE virtual_meetings SET provider_session_closed_at = $2, updated_at = $3 WHERE id = $1', [id, at, now]);
}

// ------------------------------------------------------------------------------------------- participants

/** A session about to be opened: a Participant without its id and end, joined at a Date. */
export type NewParticipant = Omit<Participant, 'id' | 'joinedAt' | 'leftAt'> & { joinedAt: Date };

export async function insertParticipant(q: Queryable, p: NewParticipant): Promise<Participant> {
  const { part, participant } = participantPart(p);
  await runParts(q, [part]);
  return participant;
}

/** A new session, its id chosen here. */
export function participantPart(p: NewParticipant): { part: StatementPart; participant: Participant } {
  const participant: Participant = {
    id: randomUUID(),
    meetingId: p.meetingId,
    userType: p.userType,
    displayName: p.displayName,
    role: p.role,
    joinedAt: p.joinedAt.toISOString(),
  };
  if (p.userId) participant.userId = p.userId;
  if (p.providerPeerId) participant.providerPeerId = p.providerPeerId;
  return {
    participant,
    part: {
      sql: `INSERT INTO virtual_meeting_participants (id, meeting_id, user_id, user_type, display_name, role, provider_peer_id, joined_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      params: [participant.id, p.meetingId, p.userId ?? null, p.userType, p.displayName, p.role, p.providerPeerId ?? null, p.joinedAt],
    },
  };
}

/**
 * A join that cannot start the meeting, without a transaction: the session and its `participant_joined` event
 * are written only while the meeting is still open. The meeting row is read FOR SHARE in the same statement, so
 * an end or cancel in progress is waited for and then seen: a session can never be opened in a meeting whose
 * end already closed the others. False when the meeting was no longer open.
 */
export async function insertJoinIfOpen(
  q: Queryable,
  p: NewParticipant,
  joinedEvent: (participant: Participant) => Omit<PendingEvent, 'type'>,
): Promise<{ inserted: boolean; participant: Participant }> {
  const { participant } = participantPart(p);
  const event = joinedEvent(participant);
  const r = await q.query(
    `WITH open AS (
       SELECT id FROM virtual_meetings WHERE id = $1::uuid AND status IN ('scheduled', 'active') FOR SHARE),
     joined AS (
       INSERT INTO virtual_meeting_participants (id, meeting_id, user_id, user_type, display_name, role, joined_at)
       SELECT $2::uuid, id, $3::text, $4::text, $5::text, $6::text, $7::timestamptz FROM open
       RETURNING meeting_id)
     INSERT INTO virtual_meeting_events (meeting_id, event_type, event_data, triggered_by, triggered_by_type, created_at)
     SELECT meeting_id, 'participant_joined', $8::jsonb, $9::text, $10::text, $7::timestamptz FROM joined`,
    [
      p.meetingId,
      participant.id,
      p.userId ?? null,
      p.userType,
      p.displayName,
      p.role,
      p.joinedAt,
      JSON.stringify(event.data),
      event.trigger.by ?? null,
      event.trigger.type,
    ],
    { prepare: true },
  );
  return { inserted: r.rowCount > 0, participant };
}

export async function findParticipant(q: Queryable, meetingId: string, participantId: string): Promise<Participant | undefined> {
  if (!isUuid(participantId)) return undefined;
  const r = await q.query<ParticipantRow>('SELECT * FROM virtual_meeting_participants WHERE id = $1 AND meeting_id = $2', [
    participantId,
    meetingId,
  ]);
  return r.rows[0] ? toParticipant(r.rows[0]) : undefined;
}

export async function findOpenParticipantByPeer(q: Queryable, meetingId: string, peerId: string): Promise<Participant | undefined> {
  const r = await q.query<ParticipantRow>(
    'SELECT * FROM virtual_meeting_participants WHERE meeting_id = $1 AND provider_peer_id = $2 AND left_at IS NULL',
    [meetingId, peerId],
  );
  return r.rows[0] ? toParticipant(r.rows[0]) : undefined;
}

export async function setParticipantPeer(q: Queryable, participantId: string, peerId: string): Promise<void> {
  await q.query('UPDATE virtual_meeting_participants SET provider_peer_id = $2 WHERE id = $1', [participantId, peerId]);
}

/** Ends a session at $2 (never before it began) and records how long it lasted, in whole seconds. */
const CLOSE_SESSION_SET = `left_at = GREATEST($2::timestamptz, joined_at),
         duration_seconds = GREATEST(0, ROUND(EXTRACT(EPOCH FROM ($2::timestamptz - joined_at))))::integer`;

/** Closes the session when still open; undefined when it was already closed. */
export async function closeParticipant(q: Queryable, participantId: string, at: Date): Promise<Participant | undefined> {
  const r = await q.query<ParticipantRow>(
    `UPDATE virtual_meeting_participants
     SET ${CLOSE_SESSION_SET}
     WHERE id = $1 AND left_at IS NULL RETURNING *`,
    [participantId, at],
  );
  return r.rows[0] ? toParticipant(r.rows[0]) : undefined;
}

export async function closeOpenParticipants(q: Queryable, meetingId: string, at: Date): Promise<Participant[]> {
  const r = await q.query<ParticipantRow>(
    `UPDATE virtual_meeting_participants
     SET ${CLOSE_SESSION_SET}
     WHERE meeting_id = $1 AND left_at IS NULL RETURNING *`,
    [meetingId, at],
  );
  return r.rows.map(toParticipant).sort((a, b) => a.joinedAt.localeCompare(b.joinedAt));
}

export async function listParticipants(q: Queryable, meetingId: string): Promise<Participant[]> {
  const r = await q.query<ParticipantRow>(
    'SELECT * FROM virtual_meeting_participants WHERE meeting_id = $1 ORDER BY joined_at, id',
    [meetingId],
  );
  return r.rows.map(toParticipant);
}

// ------------------------------------------------------------------------------------------------- events

export async function appendEvent(
  q: Queryable,
  meetingId: string,
  type: MeetingEventType,
  data: Record<string, unknown>,
  trigger: Trigger,
  now: Date,
): Promise<void> {
  await q.query(
    `INSERT INTO virtual_meeting_events (meeting_id, event_type, event_data, triggered_by, triggered_by_type, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [meetingId, type, JSON.stringify(data), trigger.by ?? null, trigger.type, now],
  );
}

export interface PendingEvent {
  type: MeetingEventType;
  data: Record<string, unknown>;
  trigger: Trigger;
}

/** Several events in one statement, in the given order (seq follows the VALUES order). */
export async function appendEvents(q: Queryable, meetingId: string, events: PendingEvent[], now: Date): Promise<void> {
  const part = eventsPart(meetingId, events, now);
  if (part) await runParts(q, [part]);
}

/** The insert of several events, in the given order (seq follows the VALUES order); undefined for none. */
export function eventsPart(meetingId: string, events: PendingEvent[], now: Date): StatementPart | undefined {
  if (events.length === 0) return undefined;
  const params: unknown[] = [meetingId, now];
  const values = events.map((e) => {
    params.push(e.type, JSON.stringify(e.data), e.trigger.by ?? null, e.trigger.type);
    const n = params.length;
    return `($1, $${n - 3}, $${n - 2}::jsonb, $${n - 1}, $${n}, $2)`;
  });
  return {
    sql: `INSERT INTO virtual_meeting_events (meeting_id, event_type, event_data, triggered_by, triggered_by_type, created_at)
          VALUES ${values.join(', ')}`,
    params,
  };
}

export async function listEvents(q: Queryable, meetingId: string): Promise<MeetingEvent[]> {
  const r = await q.query<{
    seq: string | number;
    event_type: MeetingEventType;
    event_data: Record<string, unknown>;
    triggered_by: string | null;
    triggered_by_type: MeetingEvent['triggeredByType'];
    created_at: Date | string;
  }>('SELECT * FROM virtual_meeting_events WHERE meeting_id = $1 ORDER BY seq', [meetingId]);
  return r.rows.map((e) => {
    const event: MeetingEvent = {
      seq: Number(e.seq),
      eventType: e.event_type,
      eventData: e.event_data,
      triggeredByType: e.triggered_by_type,
      createdAt: iso(e.created_at)!,
    };
    if (e.triggered_by) event.triggeredBy = e.triggered_by;
    return event;
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
