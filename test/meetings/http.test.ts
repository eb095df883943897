import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { Appointment } from '@medplum/fhirtypes';
import { HmsFakeServer } from '../fakes/hms-fake-server.js';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';

const HMS = { accessKey: 'ak-org-0123456789', appSecret: 'app-secret-org-0123456789abcdef', template: 'tmpl-org', webhookSecret: 'whsec-org-0123456789abcdef' };

describe.each(testDatabaseKinds())('meetings HTTP API on %s', (kind) => {
  let server: TestServer;
  let fake: HmsFakeServer;
  let orgId: string;
  let admin: TestUser;
  let practitioner: TestUser;
  let patient: TestUser;

  beforeAll(async () => {
    fake = await HmsFakeServer.start({ accessKey: HMS.accessKey, appSecret: HMS.appSecret, templates: { [HMS.template]: ['host', 'guest'] } });
    server = await createTestServer(kind, { ENCRYPTION_KEY: 'a'.repeat(64) });
    orgId = await server.auth.createOrg('Clinic H');
    admin = await server.auth.createUser(orgId, 'admin');
    practitioner = await server.auth.createUser(orgId, 'practitioner');
    patient = await server.auth.createUser(orgId, 'patient');
  });
  afterAll(async () => {
    await fake.close();
    await server.close();
  });

  const as = (user?: TestUser) => ({ authorization: user ? `Bearer ${user.token}` : undefined });
  const inject = (opts: InjectOptions) => server.app.inject(opts);

  async function bookAndCreate(): Promise<{ appointment: Appointment; meeting: Record<string, string> }> {
    const repo = server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' });
    const appointment = (
      await repo.create<Appointment>({
        resourceType: 'Appointment',
        status: 'booked',
        start: new Date(Date.now() + 60_000).toISOString(),
        end: new Date(Date.now() + 1_860_000).toISOString(),
        participant: [
          { actor: { reference: practitioner.fhirUser }, status: 'accepted' },
          { actor: { reference: patient.fhirUser, display: 'Secret Patientname' }, status: 'accepted' },
        ],
      })
    ).resource;
    const res = await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointment.id}`, headers: as(practitioner) });
    expect(res.statusCode).toBe(201);
    return { appointment, meeting: res.json() };
  }

  it('staff endpoints need a token and the right role; the org comes from the token', async () => {
    const { appointment, meeting } = await bookAndCreate();
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointment.id}`, headers: as() })).statusCode).toBe(401);
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointment.id}`, headers: as(patient) })).statusCode).toBe(403);
    const again = await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointment.id}`, headers: as(admin) });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(meeting.id);
    const otherOrg = await server.auth.createOrg('Elsewhere');
    const stranger = await server.auth.createUser(otherOrg, 'admin');
    expect((await inject({ method: 'GET', url: `/api/virtual-meetings/${meeting.id}`, headers: as(stranger) })).statusCode).toBe(404);
    const list = await inject({ method: 'GET', url: '/api/virtual-meetings?status=scheduled&count=1', headers: as(practitioner) });
    expect(list.statusCode).toBe(200);
    expect(list.json().meetings).toHaveLength(1);
    const own = await inject({ method: 'GET', url: '/api/virtual-meetings', headers: as(patient) });
    expect(own.json().meetings.every((m: { patientId: string }) => `Patient/${m.patientId}` === patient.fhirUser)).toBe(true);
    expect((await inject({ method: 'GET', url: `/api/virtual-meetings/${meeting.id}/events`, headers: as(patient) })).statusCode).toBe(403);
    const bad = await inject({ method: 'GET', url: '/api/virtual-meetings?status=bogus', headers: as(practitioner) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().resourceType).toBe('OperationOutcome');
  });

  it('public endpoints show no patient data', async () => {
    const { meeting } = await bookAndCreate();
    const page = await inject({ method: 'GET', url: `/api/virtual-meetings/code/${meeting.meetingCode}`, headers: as() });
    const joined = await inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(), payload: { displayName: 'Cousin' } });
    expect(joined.json().role).toBe('guest');
    for (const body of [page.body, joined.body]) {
      expect(body).not.toContain('Patientname');
      expect(body).not.toContain(patient.fhirUser!.split('/')[1]);
      expect(body).not.toContain('1990-01-01');
      expect(body).not.toContain('appointmentId');
    }
    const byBirthDate = await inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(), payload: { birthDate: '1990-01-01' } });
    expect(byBirthDate.json().role).toBe('patient');
    const token = await inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/token`, headers: as(), payload: { participantId: byBirthDate.json().participantId } });
    expect(token.statusCode).toBe(200);
    expect(token.json()).toMatchObject({ role: 'patient', participantId: byBirthDate.json().participantId, credentials: { token: expect.any(String) } });
    const leave = await inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/leave`, headers: as(), payload: { participantId: byBirthDate.json().participantId } });
    expect(leave.json()).toMatchObject({ leftAt: expect.any(String), role: 'patient' });
  });

  it('unknown codes 404, ended 410, guessing codes 429 — all OperationOutcomes', async () => {
    const { meeting } = await bookAndCreate();
    await inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/end`, headers: as(practitioner) });
    const ended = await inject({ method: 'GET', url: `/api/virtual-meetings/code/${meeting.meetingCode}`, headers: as(), remoteAddress: '10.9.9.9' });
    expect(ended.statusCode).toBe(410);
    expect(ended.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'deleted' }] });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await inject({ method: 'POST', url: `/api/virtual-meetings/join/ABCDEFGH${i}X`.replace(/[01]/g, 'Q'), headers: as(), payload: {}, remoteAddress: '10.1.1.1' });
      statuses.push(res.statusCode);
      if (res.statusCode !== 404) expect(res.json().resourceType).toBe('OperationOutcome');
    }
    expect(statuses.slice(0, 9).every((s) => s === 404)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    // Another client is not affected.
    expect((await inject({ method: 'GET', url: '/api/virtual-meetings/code/ZZZZZZZZZZ', headers: as(), remoteAddress: '10.2.2.2' })).statusCode).toBe(404);
  });

  it('serves the OpenAPI description', async () => {
    const res = await inject({ method: 'GET', url: '/api/docs/json', headers: as() });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/api/virtual-meetings/appointment/{appointmentId}',
      '/api/virtual-meetings/instant',
      '/api/virtual-meetings/',
      '/api/virtual-meetings/{meetingId}',
      '/api/virtual-meetings/{meetingId}/events',
      '/api/virtual-meetings/code/{code}',
      '/api/virtual-meetings/join/{code}',
      '/api/virtual-meetings/{meetingId}/token',
      '/api/virtual-meetings/{meetingId}/leave',
      '/api/virtual-meetings/{meetingId}/end',
      '/api/webhooks/100ms',
      '/api/integrations/video',
    ]) {
      const found = Object.keys(doc.paths).some((p) => p.replace(/\/$/, '') === path.replace(/\/$/, ''));
      expect(found, path).toBe(true);
    }
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/fhir'))).toBe(false);
  });

  it("per-org 100ms: secrets sealed and never returned; the org's rooms, tokens and webhook secret", async () => {
    const initial = await inject({ method: 'GET', url: '/api/integrations/video', headers: as(admin) });
    expect(initial.json()).toEqual({ provider: 'p2p', source: 'default', secretsConfigured: false });
    const body = { provider: '100ms', accessKey: HMS.accessKey, appSecret: HMS.appSecret, templateId: HMS.template, webhookSecret: HMS.webhookSecret, apiBaseUrl: fake.baseUrl };
    expect((await inject({ method: 'PUT', url: '/api/integrations/video', headers: as(practitioner), payload: body })).statusCode).toBe(403);
    expect((await inject({ method: 'PUT', url: '/api/integrations/video', headers: as(admin), payload: { ...body, templateId: '' } })).statusCode).toBe(400);
    const saved = await inject({ method: 'PUT', url: '/api/integrations/video', headers: as(admin), payload: body });
    expect(saved.statusCode).toBe(200);
    expect(saved.json()).toMatchObject({ provider: '100ms', source: 'organization', accessKey: HMS.accessKey, templateId: HMS.template, secretsConfigured: true });
    expect(saved.body).not.toContain(HMS.appSecret);
    expect(saved.body).not.toContain(HMS.webhookSecret);
    const row = await server.db.query<{ sealed_secrets: string }>('SELECT sealed_secrets FROM video_integrations WHERE org_id = $1', [orgId]);
    expect(row.rows[0].sealed_secrets).toMatch(/^v1\./);
    expect(row.rows[0].sealed_secrets).not.toContain(HMS.appSecret);

    const { meeting } = await bookAndCreate();
    expect(meeting.provider).toBe('100ms');
    expect(fake.rooms.get(meeting.providerRoomId)?.templateId).toBe(HMS.template);
    const host = await inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(practitioner), payload: {} });
    expect(host.json()).toMatchObject({ role: 'host', provider: '100ms', credentials: { provider: '100ms', providerRole: 'host' } });
    await fake.joinWithAuthToken(host.json().credentials.token);

    // The webhook route: raw bytes, the org's own secret, 401 otherwise.
    const envelope = (type: string, data: Record<string, unknown>) =>
      JSON.stringify({ version: '2.0', id: randomUUID(), timestamp: new Date().toISOString(), type, data: { room_id: meeting.providerRoomId, ...data } });
    const forged = await inject({ method: 'POST', url: '/api/webhooks/100ms', headers: { ...as(), 'content-type': 'application/json', 'x-webhook-secret': 'nope' }, payload: envelope('room.end.success', {}) });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().resourceType).toBe('OperationOutcome');
    const good = envelope('peer.join.success', { peer_id: 'p-1', user_id: host.json().participantId, role: 'host' });
    const ok = await inject({ method: 'POST', url: '/api/webhooks/100ms', headers: { ...as(), 'content-type': 'application/json; charset=utf-8', 'x-webhook-secret': HMS.webhookSecret }, payload: good });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ processed: 1, duplicates: 0, ignored: 0 });
    const dup = await inject({ method: 'POST', url: '/api/webhooks/100ms', headers: { ...as(), 'content-type': 'application/json', 'x-webhook-secret': HMS.webhookSecret }, payload: good });
    expect(dup.json()).toEqual({ processed: 0, duplicates: 1, ignored: 0 });

    const end = await inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/end`, headers: as(admin) });
    expect(end.json().status).toBe('ended');
    expect(fake.requests.some((r) => r.path === `/v2/active-rooms/${meeting.providerRoomId}/end-room`)).toBe(true);
    await fake.idle();
  });
});
