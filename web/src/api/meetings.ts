import type { HttpClient } from './http.js';
import { pickArray, pickString, pickNumber, record } from './parse.js';

export type MeetingStatus = 'scheduled' | 'active' | 'ended' | 'cancelled';
export type MeetingRole = 'host' | 'patient' | 'guest';
export type ProviderName = 'p2p' | '100ms';

export interface MeetingParticipant {
  id: string;
  displayName: string;
  role: MeetingRole;
  userType?: string;
  joinedAt?: string;
  leftAt?: string;
  durationSeconds?: number;
}

export interface Meeting {
  id: string;
  code: string;
  publicLink?: string;
  status: MeetingStatus;
  provider: ProviderName;
  appointmentId?: string;
  encounterId?: string;
  patientId?: string;
  hostPractitionerId?: string;
  scheduledStart?: string;
  scheduledEnd?: string;
  startedAt?: string;
  endedAt?: string;
  createdAt?: string;
  participants: MeetingParticipant[];
}

/** What the public join page may know: no patient data. */
export interface PublicMeeting {
  id?: string;
  status: MeetingStatus;
  scheduledStart?: string;
  scheduledEnd?: string;
  practitionerName?: string;
  organizationName?: string;
  provider?: ProviderName;
}

export interface HmsCredentials {
  provider: '100ms';
  token: string;
  roomId: string;
  expiresAt?: string;
}

export interface P2pCredentials {
  provider: 'p2p';
  token: string;
  roomId: string;
  expiresAt?: string;
  signalingUrl?: string;
  participantId?: string;
  role?: MeetingRole;
}

export type JoinCredentials = HmsCredentials | P2pCredentials;

export interface JoinResult {
  meeting: PublicMeeting;
  meetingId: string;
  role: MeetingRole;
  participantId?: string;
  credentials: JoinCredentials;
}

export interface MeetingEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  triggeredByType?: string;
  createdAt: string;
}

/** The state a practitioner cares about in the list of today's meetings. */
export type MeetingState = 'scheduled' | 'waiting' | 'in-progress' | 'ended' | 'cancelled';

export function meetingState(meeting: Meeting): MeetingState {
  if (meeting.status === 'ended') return 'ended';
  if (meeting.status === 'cancelled') return 'cancelled';
  if (meeting.status === 'active') return 'in-progress';
  const someoneWaiting = meeting.participants.some((p) => p.role !== 'host' && !p.leftAt);
  return someoneWaiting ? 'waiting' : 'scheduled';
}

function status(value: string | undefined): MeetingStatus {
  return value === 'active' || value === 'ended' || value === 'cancelled' ? value : 'scheduled';
}

function role(value: string | undefined): MeetingRole {
  return value === 'host' || value === 'patient' ? value : 'guest';
}

function provider(value: string | undefined): ProviderName {
  return value === '100ms' ? '100ms' : 'p2p';
}

function refId(value: string | undefined): string | undefined {
  return value?.includes('/') ? value.split('/')[1] : value;
}

export function parseParticipant(data: unknown): MeetingParticipant {
  const p = record(data);
  return {
    id: pickString(p, 'id', 'participantId', 'participant_id') ?? '',
    displayName: pickString(p, 'displayName', 'display_name', 'name') ?? 'Participant',
    role: role(pickString(p, 'role')),
    userType: pickString(p, 'userType', 'user_type'),
    joinedAt: pickString(p, 'joinedAt', 'joined_at'),
    leftAt: pickString(p, 'leftAt', 'left_at'),
    durationSeconds: pickNumber(p, 'durationSeconds', 'duration_seconds'),
  };
}

export function parseMeeting(data: unknown): Meeting {
  const m = record(record(data).meeting ?? data);
  return {
    id: pickString(m, 'id', 'meetingId') ?? '',
    code: pickString(m, 'meetingCode', 'meeting_code', 'code') ?? '',
    publicLink: pickString(m, 'publicLink', 'public_link', 'joinUrl'),
    status: status(pickString(m, 'status')),
    provider: provider(pickString(m, 'provider')),
    appointmentId: refId(pickString(m, 'appointmentId', 'appointment_id')),
    encounterId: refId(pickString(m, 'encounterId', 'encounter_id')),
    patientId: refId(pickString(m, 'patientId', 'patient_id')),
    hostPractitionerId: refId(pickString(m, 'hostPractitionerId', 'host_practitioner_id')),
    scheduledStart: pickString(m, 'scheduledStart', 'scheduled_start'),
    scheduledEnd: pickString(m, 'scheduledEnd', 'scheduled_end'),
    startedAt: pickString(m, 'startedAt', 'started_at'),
    endedAt: pickString(m, 'endedAt', 'ended_at'),
    createdAt: pickString(m, 'createdAt', 'created_at'),
    participants: (pickArray(m, 'participants') ?? pickArray(record(data), 'participants') ?? []).map(parseParticipant),
  };
}

export function parsePublicMeeting(data: unknown): PublicMeeting {
  const m = record(record(data).meeting ?? data);
  const practitioner = record(m.practitioner ?? m.host);
  const org = record(m.organization ?? m.org);
  return {
    id: pickString(m, 'id', 'meetingId', 'meeting_id'),
    status: status(pickString(m, 'status')),
    scheduledStart: pickString(m, 'scheduledStart', 'scheduled_start'),
    scheduledEnd: pickString(m, 'scheduledEnd', 'scheduled_end'),
    practitionerName:
      pickString(m, 'practitionerName', 'practitioner_name', 'practitionerDisplayName', 'hostName', 'host_name') ??
      pickString(practitioner, 'displayName', 'display', 'name'),
    organizationName:
      pickString(m, 'organizationName', 'organization_name', 'orgName', 'clinicName') ?? pickString(org, 'name', 'displayName'),
    provider: pickString(m, 'provider') ? provider(pickString(m, 'provider')) : undefined,
  };
}

export function parseCredentials(data: unknown, fallbackProvider?: string): JoinCredentials {
  const c = record(data);
  const name = pickString(c, 'provider') ?? fallbackProvider;
  const token = pickString(c, 'token', 'authToken', 'auth_token') ?? '';
  const roomId = pickString(c, 'roomId', 'room_id') ?? '';
  const expiresAt = pickString(c, 'expiresAt', 'expires_at');
  if (name === '100ms') return { provider: '100ms', token, roomId, expiresAt };
  return {
    provider: 'p2p',
    token,
    roomId,
    expiresAt,
    signalingUrl: pickString(c, 'signalingUrl', 'signaling_url'),
    participantId: pickString(c, 'participantId', 'participant_id'),
    role: pickString(c, 'role') ? role(pickString(c, 'role')) : undefined,
  };
}

export function parseJoinResult(data: unknown): JoinResult {
  const body = record(data);
  const meetingRaw = record(body.meeting ?? body);
  const participant = record(body.participant);
  const credentials = parseCredentials(body.credentials ?? body.joinCredentials, pickString(body, 'provider'));
  return {
    meeting: parsePublicMeeting(meetingRaw),
    meetingId: pickString(body, 'meetingId', 'meeting_id') ?? pickString(meetingRaw, 'id', 'meetingId') ?? '',
    role: role(pickString(body, 'role') ?? pickString(participant, 'role')),
    participantId:
      pickString(body, 'participantId', 'participant_id') ??
      pickString(participant, 'id') ??
      (credentials.provider === 'p2p' ? credentials.participantId : undefined),
    credentials,
  };
}

export function parseEvent(data: unknown): MeetingEvent {
  const e = record(data);
  return {
    id: pickString(e, 'id', 'seq') ?? '',
    type: pickString(e, 'eventType', 'event_type', 'type') ?? 'unknown',
    data: record(e.eventData ?? e.event_data ?? e.data),
    triggeredByType: pickString(e, 'triggeredByType', 'triggered_by_type'),
    createdAt: pickString(e, 'createdAt', 'created_at') ?? '',
  };
}

function items(data: unknown, ...keys: string[]): unknown[] {
  if (Array.isArray(data)) return data;
  return pickArray(record(data), ...keys, 'items', 'data', 'results', 'entries') ?? [];
}

export interface JoinInput {
  displayName: string;
  birthDate?: string;
}

export function createMeetingsApi(http: HttpClient) {
  const base = '/api/virtual-meetings';
  return {
    async createForAppointment(appointmentId: string): Promise<Meeting> {
      return parseMeeting(await http.request('POST', `${base}/appointment/${encodeURIComponent(appointmentId)}`, { body: {} }));
    },
    async createInstant(input: { patientId?: string; displayName?: string } = {}): Promise<Meeting> {
      return parseMeeting(await http.request('POST', `${base}/instant`, { body: input }));
    },
    /** The meeting with its participant sessions (for the host: who is waiting, who took part). */
    async get(meetingId: string): Promise<Meeting> {
      const id = encodeURIComponent(meetingId);
      const [meeting, participants] = await Promise.all([
        http.request('GET', `${base}/${id}`),
        http.request('GET', `${base}/${id}/participants`),
      ]);
      return { ...parseMeeting(meeting), participants: items(participants, 'participants').map(parseParticipant) };
    },
    /**
     * Meetings in a time range. Meetings that have not started get their participant sessions too, since
     * "waiting patient" is a state only they can be in.
     */
    async list(filter: { from?: Date; to?: Date; status?: MeetingStatus } = {}): Promise<Meeting[]> {
      const params = new URLSearchParams();
      if (filter.from) params.set('from', filter.from.toISOString());
      if (filter.to) params.set('to', filter.to.toISOString());
      if (filter.status) params.set('status', filter.status);
      params.set('count', '100');
      const meetings = items(await http.request('GET', `${base}?${params.toString()}`), 'meetings').map(parseMeeting);
      return Promise.all(
        meetings.map(async (m) => {
          if (m.status !== 'scheduled' || m.participants.length > 0) return m;
          const participants = await http
            .request('GET', `${base}/${encodeURIComponent(m.id)}/participants`)
            .then((data) => items(data, 'participants').map(parseParticipant))
            .catch(() => []);
          return { ...m, participants };
        }),
      );
    },
    async events(meetingId: string): Promise<MeetingEvent[]> {
      return items(await http.request('GET', `${base}/${encodeURIComponent(meetingId)}/events`), 'events').map(parseEvent);
    },
    /** Public: what the join page shows before anyone enters a name. */
    async byCode(code: string): Promise<PublicMeeting> {
      return parsePublicMeeting(await http.request('GET', `${base}/code/${encodeURIComponent(code)}`, { auth: 'optional' }));
    },
    /** Public, but a signed-in host or patient is recognised by their token. */
    async join(code: string, input: JoinInput): Promise<JoinResult> {
      return parseJoinResult(await http.request('POST', `${base}/join/${encodeURIComponent(code)}`, { body: input, auth: 'optional' }));
    },
    /** For a reconnect: the participant id handed out at join is what authorizes it. */
    async freshCredentials(meetingId: string, participantId: string): Promise<JoinCredentials> {
      const data = await http.request<unknown>('POST', `${base}/${encodeURIComponent(meetingId)}/token`, {
        body: { participantId },
        auth: 'optional',
      });
      return parseCredentials(record(data).credentials ?? data);
    },
    async leave(meetingId: string, participantId: string): Promise<void> {
      await http.request('POST', `${base}/${encodeURIComponent(meetingId)}/leave`, { body: { participantId }, auth: 'optional' });
    },
    async end(meetingId: string): Promise<Meeting> {
      return parseMeeting(await http.request('POST', `${base}/${encodeURIComponent(meetingId)}/end`, { body: {} }));
    },
    /** Records that the practitioner sent the join link (event `link_shared`). */
    /** Cancels a meeting that has not started; the server cancels its Appointment too. */
    async cancel(meetingId: string): Promise<Meeting> {
      return parseMeeting(await http.request('POST', `${base}/${encodeURIComponent(meetingId)}/cancel`, { body: {} }));
    },
    async recordLinkShared(meetingId: string, channel: string): Promise<void> {
      await http.request('POST', `${base}/${encodeURIComponent(meetingId)}/link-shared`, { body: { channel } });
    },
  };
}

export type MeetingsApi = ReturnType<typeof createMeetingsApi>;
