import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Bundle, OperationOutcome, Parameters, Schedule } from '@medplum/fhirtypes';
import { withAvailability } from '../../src/scheduling/availability.js';
import { APPOINTMENT_VIRTUAL_SERVICE } from '../../src/meetings/fhir.js';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import { weekdayAvailability } from './support.js';

/**
 * The front desk story over HTTP with real tokens: a practitioner publishes availability, the front desk finds
 * the next free video time, books it and the Appointment carries a working join link; a race for the same time
 * books it once; cancelling frees it.
 */
describe.each(testDatabaseKinds())('scheduling over HTTP on %s', (kind) => {
  let server: TestServer;
  let practitioner: TestUser;
  let patient: TestUser;
  let desk: TestUser;

  beforeAll(async () => {
    server = await createTestServer(kind);
    const orgId = await server.auth.createOrg('Clinic S');
    practitioner = await server.auth.createUser(orgId, 'practitioner');
    desk = await server.auth.createUser(orgId, 'admin');
    patient = await server.auth.createUser(orgId, 'patient');
  });
  afterAll(async () => server?.close());

  const as = (user: TestUser) => ({ authorization: `Bearer ${user.token}`, 'content-type': 'application/fhir+json' });
  const params = (parameter: Parameters['parameter']): string => JSON.stringify({ resourceType: 'Parameters', parameter });
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const dayAfter = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);

  it('find → book a video visit → join link; a race books once; cancel frees the time', async () => {
    // 1. The practitioner publishes every-day hours in Berlin as a Schedule.
    const rules = weekdayAvailability('Europe/Berlin', { weeklyHours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '09:00:00', end: '17:00:00' }], bufferMinutes: 15 });
    const scheduleBody = withAvailability({ resourceType: 'Schedule', active: true, actor: [{ reference: practitioner.fhirUser! }] }, rules);
    const created = await server.app.inject({ method: 'POST', url: '/fhir/Schedule', headers: as(practitioner), payload: JSON.stringify(scheduleBody) });
    expect(created.statusCode).toBe(201);
    const schedule = created.json<Schedule>();

    // 2. The front desk asks for the next free times (GET with URL parameters).
    const find = await server.app.inject({
      method: 'GET',
      url: `/fhir/Appointment/$find?practitioner=${practitioner.fhirUser}&start=${tomorrow}&end=${dayAfter}&patient=${patient.fhirUser}&_count=5`,
      headers: as(desk),
    });
    expect(find.statusCode).toBe(200);
    const proposals = (find.json<Bundle<Appointment>>().entry ?? []).map((e) => e.resource!);
    expect(proposals).toHaveLength(5);
    const [first] = proposals;
    expect(first.status).toBe('proposed');

    // 3. Twenty clerks book the same time at once: one wins, the others hear 409 with an OperationOutcome.
    const attempts = await Promise.all(
      Array.from({ length: 20 }, () =>
        server.app.inject({ method: 'POST', url: '/fhir/Appointment/$book', headers: as(desk), payload: params([{ name: 'appointment', resource: first }]) }),
      ),
    );
    const won = attempts.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    for (const lost of attempts.filter((r) => r.statusCode !== 200)) {
      expect(lost.statusCode).toBe(409);
      expect(lost.json<OperationOutcome>().issue[0].code).toBe('conflict');
    }

    // 4. The booked video visit already carries its join link.
    const booked = won[0].json<Appointment>();
    expect(booked.status).toBe('booked');
    const address = booked.extension?.find((e) => e.url === APPOINTMENT_VIRTUAL_SERVICE)?.extension?.find((e) => e.url === 'address')?.valueUrl;
    expect(address).toMatch(/^http:\/\/fhir\.test\/join\//);
    const code = address!.split('/').pop();
    const joinView = await server.app.inject({ method: 'GET', url: `/api/join/${code}`, headers: { authorization: undefined } });
    expect(joinView.statusCode).toBeLessThan(500);

    // 5. The time is gone from $find; the patient sees the booking in their compartment.
    const again = await server.app.inject({ method: 'POST', url: '/fhir/Appointment/$find', headers: as(desk), payload: params([
      { name: 'schedule', valueReference: { reference: `Schedule/${schedule.id}` } },
      { name: 'start', valueDateTime: tomorrow },
      { name: 'end', valueDateTime: dayAfter },
    ]) });
    expect((again.json<Bundle<Appointment>>().entry ?? []).map((e) => e.resource!.start)).not.toContain(first.start);
    const mine = await server.app.inject({ method: 'GET', url: '/fhir/Appointment', headers: as(patient) });
    expect((mine.json<Bundle>().entry ?? []).map((e) => e.resource?.id)).toContain(booked.id);

    // 6. Cancelling frees the time again.
    const cancel = await server.app.inject({ method: 'POST', url: `/fhir/Appointment/${booked.id}/$cancel`, headers: as(desk), payload: params([{ name: 'reason', valueString: 'Rescheduled' }]) });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json<Appointment>().status).toBe('cancelled');
    const afterCancel = await server.app.inject({
      method: 'GET',
      url: `/fhir/Appointment/$find?schedule=Schedule/${schedule.id}&start=${tomorrow}&end=${dayAfter}&_count=500`,
      headers: as(desk),
    });
    expect((afterCancel.json<Bundle<Appointment>>().entry ?? []).map((e) => e.resource!.start)).toContain(first.start);
  });

  it('answers bad input and missing rights with an OperationOutcome', async () => {
    const backwards = await server.app.inject({ method: 'GET', url: `/fhir/Appointment/$find?practitioner=${practitioner.fhirUser}&start=${dayAfter}&end=${tomorrow}`, headers: as(desk) });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json<OperationOutcome>().issue[0].expression).toEqual(["Parameters.parameter.where(name='end')"]);
    const unknown = await server.app.inject({ method: 'GET', url: `/fhir/Appointment/$find?practitioner=Practitioner/nope&start=${tomorrow}`, headers: as(desk) });
    expect(unknown.statusCode).toBe(422);
    // Operations are not open to patient-scoped tokens (the SMART policy cannot confine them to a compartment).
    const asPatient = await server.app.inject({ method: 'GET', url: `/fhir/Appointment/$find?practitioner=${practitioner.fhirUser}&start=${tomorrow}`, headers: as(patient) });
    expect(asPatient.statusCode).toBe(403);
    const metadata = await server.app.inject({ method: 'GET', url: '/fhir/metadata' });
    expect(JSON.stringify(metadata.json())).toContain('appointment-find');
  });
});
