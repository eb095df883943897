import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { Appointment, Bundle, Parameters, Schedule, Slot } from '@medplum/fhirtypes';
import { withAvailability } from '../../src/scheduling/availability.js';
import { SLOT_APPOINTMENT_EXTENSION } from '../../src/scheduling/fhir.js';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import { weekdayAvailability } from '../scheduling/support.js';

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

  it('cancelling a video visit booked with $book through its meeting frees its Slots: $find offers the time again', async () => {
    const fhir = (user: TestUser) => ({ authorization: `Bearer ${user.token}`, 'content-type': 'application/fhir+json' });
    const params = (parameter: Parameters['parameter']) => JSON.stringify({ resourceType: 'Parameters', parameter });
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const dayAfter = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    const freeStarts = async () => {
      const res = await inject({ method: 'GET', url: `/fhir/Appointment/$find?practitioner=${practitioner.fhirUser}&start=${tomorrow}&end=${dayAfter}&_count=500`, headers: fhir(practitioner) });
      expect(res.statusCode).toBe(200);
      return (res.json<Bundle<Appointment>>().entry ?? []).map((e) => e.resource!.start);
    };

    // 1. The practitioner publishes every-day hours (30-minute video visits first) and books the first free time.
    const everyDay = weekdayAvailability('Europe/Berlin', { weeklyHours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '09:00:00', end: '17:00:00' }] });
    const schedule = withAvailability({ resourceType: 'Schedule', active: true, actor: [{ reference: practitioner.fhirUser! }] }, everyDay);
    expect((await inject({ method: 'POST', url: '/fhir/Schedule', headers: fhir(practitioner), payload: JSON.stringify(schedule) })).json<Schedule>().id).toBeTruthy();
    const found = await inject({
      method: 'GET',
      url: `/fhir/Appointment/$find?practitioner=${practitioner.fhirUser}&patient=${patient.fhirUser}&start=${tomorrow}&end=${dayAfter}&_count=1`,
      headers: fhir(practitioner),
    });
    const proposal = found.json<Bundle<Appointment>>().entry![0].resource!;
    const booking = await inject({ method: 'POST', url: '/fhir/Appointment/$book', headers: fhir(practitioner), payload: params([{ name: 'appointment', resource: proposal }]) });
    expect(booking.statusCode).toBe(200);
    const booked = booking.json<Appointment>();
    expect(booked.status).toBe('booked');
    const slotIds = booked.slot!.map((s) => s.reference!.split('/')[1]);
    expect(slotIds.length).toBeGreaterThan(0);
    const slots = async () => Promise.all(slotIds.map((id) => server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' }).read<Slot>('Slot', id)));
    expect((await slots()).map((s) => s.status)).toEqual(slotIds.map(() => 'busy'));
    expect(await freeStarts()).not.toContain(booked.start);

    // 2. Its meeting ($book made it; asking again gives the same one) is cancelled.
    const meeting = await inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${booked.id}`, headers: as(practitioner) });
    expect(meeting.statusCode).toBe(200);
    const cancelled = await inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.json().id}/cancel`, headers: as(practitioner) });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json().status).toBe('cancelled');

    // 3. The Appointment is cancelled once, with the reason; its Slots are free and hold it no more; $find offers the time.
    const appointment = await server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' }).read<Appointment>('Appointment', booked.id!);
    expect(appointment.status).toBe('cancelled');
    expect(appointment.cancelationReason?.text).toBe('cancelled by the clinic');
    expect(Number(appointment.meta?.versionId)).toBe(Number(booked.meta?.versionId) + 1);
    for (const slot of await slots()) {
      expect(slot.status).toBe('free');
      expect((slot.extension ?? []).filter((e) => e.url === SLOT_APPOINTMENT_EXTENSION)).toEqual([]);
    }
    expect(await freeStarts()).toContain(booked.start);
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
