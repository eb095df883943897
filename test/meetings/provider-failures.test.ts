import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Encounter } from '@medplum/fhirtypes';
import { HmsFakeServer } from '../fakes/hms-fake-server.js';
import { testDatabaseKinds } from '../support/db.js';
import { OperationOutcomeError } from '../../src/fhir/outcomes.js';
import { findMeeting, OUTBOX_LEASE_MS } from '../../src/meetings/meeting-store.js';
import { assertAllFhirValid, book, createMeetingsFixture, eventTypes, type MeetingsFixture } from './support.js';

const HMS = { accessKey: 'ak-fail-0123456789', appSecret: 'app-secret-fail-0123456789abcdef', template: 'tmpl-telehealth', webhookSecret: 'whsec-fail-0123456789abcdef' };

async function failure(promise: Promise<unknown>): Promise<OperationOutcomeError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe.each(testDatabaseKinds())('100ms failures and webhooks on %s', (kind) => {
  let fx: MeetingsFixture;
  let fake: HmsFakeServer;
  beforeAll(async () => {
    fake = await HmsFakeServer.start({ accessKey: HMS.accessKey, appSecret: HMS.appSecret, templates: { [HMS.template]: ['host', 'guest'] } });
    fx = await createMeetingsFixture(kind, {
      env: { HMS_ACCESS_KEY: HMS.accessKey, HMS_APP_SECRET: HMS.appSecret, HMS_TEMPLATE_ID: HMS.template, HMS_WEBHOOK_SECRET: HMS.webhookSecret, HMS_API_BASE_URL: fake.baseUrl, MEETING_IDLE_END_SECONDS: '120' },
      module: { hmsOverrides: { maxRetries: 0, timeoutMs: 3000 } },
    });
  });
  afterEach(() => fake.setDown(false));
  afterAll(async () => {
    await fx.close();
    await fake.close();
  });
  const service = () => fx.module.service;

  const webhook = (type: string, data: Record<string, unknown>, opts: { id?: string; secret?: string | null } = {}) => {
    const rawBody = JSON.stringify({ version: '2.0', id: opts.id ?? randomUUID(), app_id: 'app', account_id: 'acc', template_id: HMS.template, timestamp: new Date().toISOString(), type, data });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.secret !== null) headers['x-webhook-secret'] = opts.secret ?? HMS.webhookSecret;
    return { headers, rawBody: Buffer.from(rawBody) };
  };

  it('provider down at create: 502 OperationOutcome, nothing stored, Appointment untouched', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    fake.setDown(true);
    const err = await failure(service().createMeetingForAppointment(b.host, b.appointment.id!));
    expect(err.status).toBe(502);
    expect(err.outcome.resourceType).toBe('OperationOutcome');
    expect((await fx.db.query('SELECT 1 FROM virtual_meetings WHERE appointment_id = $1', [b.appointment.id])).rowCount).toBe(0);
    expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).meta?.versionId).toBe('1');
    fake.setDown('refuse');
    expect((await failure(service().createMeetingForAppointment(b.host, b.appointment.id!))).status).toBe(502);
    fake.setDown(false);
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    expect(meeting.provider).toBe('100ms');
    expect(fake.rooms.get(meeting.providerRoomId)?.name).toBe(`appt-${b.appointment.id}`);
  });

  it('provider down at end: the local end commits, the outbox retries with backoff until 100ms is back', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    const host = await service().joinByCode(meeting.meetingCode, {}, b.host);
    await fake.joinWithAuthToken(host.credentials.token);
    fake.setDown(true);
    const ended = await service().endMeeting(b.host, meeting.id);
    expect(ended.status).toBe('ended');
    expect((await fx.repo().read<Encounter>('Encounter', ended.encounterId!)).status).toBe('finished');
    expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('noshow');
    const outbox = async () =>
      (await fx.db.query<{ status: string; attempts: number; last_error: string | null }>('SELECT status, attempts, last_error FROM provider_outbox WHERE meeting_id = $1', [meeting.id])).rows[0];
    expect(await outbox()).toMatchObject({ status: 'pending', attempts: 1, last_error: expect.stringContaining('Service Unavailable') });
    const errors = (await service().listEvents(b.host, meeting.id)).filter((e) => e.eventType === 'provider_error');
    expect(errors).toEqual([expect.objectContaining({ eventData: expect.objectContaining({ action: 'end_room', attempt: 1, providerStatus: 503 }) })]);

    // Not due yet: nothing is tried.
    expect(await service().processDueOutbox(fx.clock.now())).toBe(0);
    expect((await outbox()).attempts).toBe(1);
    // Due, still down: another failure, a longer wait.
    fx.clock.advance(3600);
    await fx.module.scheduler.runOnce(fx.clock.now());
    expect((await outbox()).attempts).toBe(2);
    fake.setDown(false);
    fx.clock.advance(3600);
    const run = await fx.module.scheduler.runOnce(fx.clock.now());
    expect(run.delivered).toBe(1);
    expect(await outbox()).toMatchObject({ status: 'done', attempts: 3 });
    const calls = fake.requests.filter((r) => r.path === `/v2/active-rooms/${meeting.providerRoomId}/end-room`);
    expect(calls).toHaveLength(3);
    expect(calls[2].body).toEqual({ reason: 'ended by host', lock: true });
    await fake.idle();
    expect(fake.rooms.get(meeting.providerRoomId)?.session).toBeUndefined();
    const types = await eventTypes(fx.db, meeting.id);
    expect(types.filter((t) => t === 'provider_error')).toHaveLength(2);
    expect(types.at(-1)).toBe('provider_room_ended');
    // Nothing left to do.
    fx.clock.advance(3600);
    expect((await fx.module.scheduler.runOnce(fx.clock.now())).delivered).toBe(0);
  });

  it('a server that stops between the commit of an end and its call to 100ms: another delivers it once the claim lapses', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    await service().joinByCode(meeting.meetingCode, {}, b.host);
    // The end commits, and the process dies before it calls the provider.
    await fx.db.transaction(async (tx) => {
      const locked = await findMeeting(tx, b.host.orgId, meeting.id, { lock: true });
      await service().endInTx(tx, locked!, 'ended by host', { type: 'user', by: b.host.subject }, { endAtProvider: true });
    });
    const endCalls = () => fake.requests.filter((r) => r.path === `/v2/active-rooms/${meeting.providerRoomId}/end-room`).length;
    expect((await service().getMeeting(b.host, meeting.id)).status).toBe('ended');
    expect(endCalls()).toBe(0);
    // Still claimed by the server that committed it: the scheduler leaves it alone for the lease.
    fx.clock.advance(OUTBOX_LEASE_MS / 1000 - 5);
    expect((await fx.module.scheduler.runOnce(fx.clock.now())).delivered).toBe(0);
    fx.clock.advance(10);
    expect((await fx.module.scheduler.runOnce(fx.clock.now())).delivered).toBe(1);
    expect(endCalls()).toBe(1);
    const outbox = await fx.db.query<{ status: string }>('SELECT status FROM provider_outbox WHERE meeting_id = $1', [meeting.id]);
    expect(outbox.rows).toEqual([{ status: 'done' }]);
    expect((await eventTypes(fx.db, meeting.id)).at(-1)).toBe('provider_room_ended');
  });

  it('forged webhooks: 401 and nothing stored', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    const before = await eventTypes(fx.db, meeting.id);
    const receipts = async () => (await fx.db.query('SELECT 1 FROM provider_webhook_receipts')).rowCount;
    const n = await receipts();
    for (const secret of ['wrong-secret-0123456789abcdef', null, '']) {
      const err = await failure(fx.module.webhooks.handle('100ms', webhook('room.end.success', { room_id: meeting.providerRoomId }, { secret })));
      expect(err.status).toBe(401);
    }
    // A room nobody knows, with the right secret of nobody: still refused when there is no env config to vouch.
    expect(await receipts()).toBe(n);
    expect(await eventTypes(fx.db, meeting.id)).toEqual(before);
    expect((await service().getMeeting(b.host, meeting.id)).status).toBe('scheduled');
  });

  it('duplicated webhooks are applied once; peer join/leave keep the sessions; unknown types are logged', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    const p = await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
    const joined = webhook('peer.join.success', { room_id: meeting.providerRoomId, peer_id: 'peer-1', user_id: p.participantId, role: 'guest', session_id: 's1', joined_at: new Date().toISOString() });
    expect(await fx.module.webhooks.handle('100ms', joined)).toEqual({ processed: 1, duplicates: 0, ignored: 0 });
    expect(await fx.module.webhooks.handle('100ms', joined)).toEqual({ processed: 0, duplicates: 1, ignored: 0 });
    let parts = await service().listParticipants(b.host, meeting.id);
    expect(parts).toEqual([expect.objectContaining({ id: p.participantId, providerPeerId: 'peer-1' })]);

    const left = webhook('peer.leave.success', { room_id: meeting.providerRoomId, peer_id: 'peer-1', user_id: p.participantId, left_at: new Date().toISOString(), reason: 'network' });
    await fx.module.webhooks.handle('100ms', left);
    await fx.module.webhooks.handle('100ms', left);
    // An SDK reconnect without asking us: a new session for the same person.
    fx.clock.advance(5);
    await fx.module.webhooks.handle('100ms', webhook('peer.join.success', { room_id: meeting.providerRoomId, peer_id: 'peer-2', user_id: p.participantId, role: 'guest' }));
    parts = await service().listParticipants(b.host, meeting.id);
    expect(parts.map((x) => [x.role, x.providerPeerId, Boolean(x.leftAt)])).toEqual([
      ['patient', 'peer-1', true],
      ['patient', 'peer-2', false],
    ]);
    expect(await fx.module.webhooks.handle('100ms', webhook('recording.success', { room_id: meeting.providerRoomId }))).toEqual({ processed: 1, duplicates: 0, ignored: 0 });
    const hooks = (await service().listEvents(b.host, meeting.id)).filter((e) => e.eventType === 'provider_webhook');
    expect(hooks.map((h) => h.eventData.rawType)).toEqual(['peer.join.success', 'peer.leave.success', 'peer.join.success', 'recording.success']);
    expect(hooks.every((h) => h.triggeredByType === 'provider')).toBe(true);
    // Unknown rooms are accepted (the env secret vouches) and ignored.
    expect(await fx.module.webhooks.handle('100ms', webhook('peer.join.success', { room_id: 'nope', peer_id: 'x', user_id: 'y' }))).toEqual({ processed: 0, duplicates: 0, ignored: 1 });
  });

  it('session closed → ended after MEETING_IDLE_END_SECONDS; room ended at the provider → ended now, without calling it back', async () => {
    const b = await book(fx.repo(), { start: fx.clock.now() });
    const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
    const host = await service().joinByCode(meeting.meetingCode, {}, b.host);
    await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
    await fx.module.webhooks.handle('100ms', webhook('session.close.success', { room_id: meeting.providerRoomId, session_id: 's', session_stopped_at: fx.clock.now().toISOString() }));
    const parts = await service().listParticipants(b.host, meeting.id);
    expect(parts.every((x) => x.leftAt)).toBe(true);
    expect((await service().getMeeting(b.host, meeting.id)).status).toBe('active');
    fx.clock.advance(119);
    expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).not.toContain(meeting.id);
    fx.clock.advance(2);
    expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).toContain(meeting.id);
    expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('fulfilled');
    expect(host.credentials.provider).toBe('100ms');

    const c = await book(fx.repo(), { start: fx.clock.now() });
    const m2 = (await service().createMeetingForAppointment(c.host, c.appointment.id!)).meeting;
    await service().joinByCode(m2.meetingCode, {}, c.host);
    const endCallsBefore = fake.requests.filter((r) => r.path.includes('/end-room')).length;
    await fx.module.webhooks.handle('100ms', webhook('room.end.success', { room_id: m2.providerRoomId, reason: 'ended from dashboard' }));
    const ended = await service().getMeeting(c.host, m2.id);
    expect(ended.status).toBe('ended');
    const endEvent = (await service().listEvents(c.host, m2.id)).find((e) => e.eventType === 'meeting_ended');
    expect(endEvent).toMatchObject({ triggeredByType: 'provider', eventData: { reason: 'ended from dashboard' } });
    expect(fake.requests.filter((r) => r.path.includes('/end-room')).length).toBe(endCallsBefore);
    expect((await fx.db.query('SELECT 1 FROM provider_outbox WHERE meeting_id = $1', [m2.id])).rowCount).toBe(0);
    expect((await fx.repo().read<Appointment>('Appointment', c.appointment.id!)).status).toBe('noshow');
  });

  it('every FHIR resource written passes validation', async () => {
    expect(await assertAllFhirValid(fx.db)).toBeGreaterThan(5);
  });
});
