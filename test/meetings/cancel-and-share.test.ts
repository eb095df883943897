import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { Appointment } from '@medplum/fhirtypes';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';

describe.each(testDatabaseKinds())('cancelling a meeting and recording a shared link on %s', (kind) => {
  let server: TestServer;
  let orgId: string;
  let practitioner: TestUser;
  let patient: TestUser;
  let otherPractitioner: TestUser;

  beforeAll(async () => {
    server = await createTestServer(kind);
    orgId = await server.auth.createOrg('Clinic C');
    practitioner = await server.auth.createUser(orgId, 'practitioner');
    otherPractitioner = await server.auth.createUser(orgId, 'practitioner');
    patient = await server.auth.createUser(orgId, 'patient');
  });
  afterAll(() => server.close());

  const as = (user?: TestUser) => ({ authorization: user ? `Bearer ${user.token}` : undefined });
  const inject = (opts: InjectOptions) => server.app.inject(opts);

  async function meetingForNewAppointment(): Promise<{ appointmentId: string; meetingId: string; code: string }> {
    const repo = server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' });
    const { resource } = await repo.create<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      start: new Date(Date.now() + 3_600_000).toISOString(),
      end: new Date(Date.now() + 5_400_000).toISOString(),
      participant: [
        { actor: { reference: patient.fhirUser }, status: 'accepted' },
        { actor: { reference: practitioner.fhirUser }, status: 'accepted' },
      ],
    });
    const res = await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${resource.id}`, headers: as(practitioner) });
    expect(res.statusCode).toBe(201);
    return { appointmentId: resource.id!, meetingId: res.json().id, code: res.json().meetingCode };
  }

  it('the host cancels before the start: meeting and Appointment cancelled, joins refused with 410, twice changes nothing', async () => {
    const { appointmentId, meetingId, code } = await meetingForNewAppointment();
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/cancel`, headers: as(otherPractitioner) })).statusCode).toBe(403);
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/cancel`, headers: as(patient) })).statusCode).toBe(403);

    const cancelled = await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/cancel`, headers: as(practitioner) });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json().status).toBe('cancelled');
    const again = await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/cancel`, headers: as(practitioner) });
    expect(again.json().status).toBe('cancelled');

    const appointment = await server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' }).read<Appointment>('Appointment', appointmentId);
    expect(appointment.status).toBe('cancelled');
    expect(appointment.meta?.versionId).toBe('3'); // booked, meeting link, cancelled — once

    const join = await inject({ method: 'POST', url: `/api/virtual-meetings/join/${code}`, headers: as(), payload: { displayName: 'Late guest' } });
    expect(join.statusCode).toBe(410);
    expect(join.json().resourceType).toBe('OperationOutcome');

    const events = await inject({ method: 'GET', url: `/api/virtual-meetings/${meetingId}/events`, headers: as(practitioner) });
    const types = (events.json().events as { eventType?: string; type?: string }[]).map((e) => e.eventType ?? e.type);
    expect(types).toContain('meeting_cancelled');
    expect(types.filter((t) => t === 'appointment_status_changed')).toHaveLength(1);
  });

  it('a meeting that started cannot be cancelled (409): it must be ended', async () => {
    const { meetingId, code } = await meetingForNewAppointment();
    const hostJoin = await inject({ method: 'POST', url: `/api/virtual-meetings/join/${code}`, headers: as(practitioner), payload: { displayName: 'Dr' } });
    expect(hostJoin.statusCode).toBe(200);
    const res = await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/cancel`, headers: as(practitioner) });
    expect(res.statusCode).toBe(409);
    expect(res.json().resourceType).toBe('OperationOutcome');
  });

  it('staff record that the link was sent; patients and strangers cannot', async () => {
    const { meetingId } = await meetingForNewAppointment();
    const shared = await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/link-shared`, headers: as(practitioner), payload: { channel: 'email' } });
    expect(shared.statusCode).toBe(200);
    const last = (shared.json().events as { eventType?: string; type?: string; eventData?: { channel?: string }; data?: { channel?: string } }[]).at(-1)!;
    expect(last.eventType ?? last.type).toBe('link_shared');
    expect((last.eventData ?? last.data)?.channel).toBe('email');
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/link-shared`, headers: as(patient), payload: {} })).statusCode).toBe(403);
    expect((await inject({ method: 'POST', url: `/api/virtual-meetings/${meetingId}/link-shared`, headers: as(), payload: {} })).statusCode).toBe(401);
  });
});
