import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Bundle, Patient, RelatedPerson, Schedule, Slot } from '@medplum/fhirtypes';
import type { Database } from '../../src/db/database.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import type { FhirRepository } from '../../src/fhir/repository/repository.js';
import { withAvailability } from '../../src/scheduling/availability.js';
import { slotHolders } from '../../src/scheduling/fhir.js';
import { ensureSlots } from '../../src/scheduling/slot-sync.js';
import { slotsOf } from '../../src/scheduling/slot-store.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';
import { createPractitionerWithSchedule, failure, operationsClient, weekdayAvailability } from './support.js';

/**
 * The scheduling workflow on a real database, through the operations as the router calls them, with a fixed
 * clock: Monday 2027-01-04 06:00 UTC. Schedules are in UTC unless a test says otherwise.
 */
const NOW = new Date('2027-01-04T06:00:00Z');
const sync = { now: NOW, maxHorizonDays: 90 };

describe.each(testDatabaseKinds())('scheduling on %s', (kind) => {
  let close: () => Promise<void>;
  let db: Database;
  let repo: FhirRepository;
  let ops: ReturnType<typeof operationsClient>;
  const meetingsCreated: string[] = [];

  beforeAll(async () => {
    const database = await createTestDatabase(kind);
    close = database.close;
    db = database.db;
    repo = createDefaultFhirStore(db).repository({ orgId: '00000000-0000-4000-8000-000000000001', baseUrl: 'http://fhir.test/fhir' });
    ops = operationsClient(repo, {
      db,
      now: () => NOW,
      meetings: { createMeetingForAppointment: async (_actor, id) => void meetingsCreated.push(id) },
    });
  });
  afterAll(async () => close());

  const slotsOfDay = async (scheduleId: string, day: string) => slotsOf(repo, scheduleId, `${day}T00:00:00Z`, `${day}T23:59:59Z`);
  const statusAt = async (scheduleId: string, start: string) => (await slotsOf(repo, scheduleId, start, new Date(Date.parse(start) + 1000).toISOString()))[0]?.status;

  it('materializes Slots idempotently and regenerates on a rule change without touching booked ones', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Idem');
    const first = await ensureSlots(repo, schedule.id!, new Date('2027-01-09T00:00:00Z'), sync);
    expect(first?.created).toBe(5 * 28); // Mon–Fri, 06:00 is before 09:00
    expect(await ensureSlots(repo, schedule.id!, new Date('2027-01-09T00:00:00Z'), sync)).toBeUndefined();

    const [proposal] = await ops.find({ schedule: schedule.id!, start: '2027-01-05T09:00:00Z', end: '2027-01-06T00:00:00Z', _count: '1' });
    const booked = (await ops.book(proposal)).body as Appointment;
    expect(booked.status).toBe('booked');

    // Mornings only from now on: the free afternoon Slots go, the booked morning ones stay as they are.
    const current = await repo.read<Schedule>('Schedule', schedule.id!);
    const mornings = weekdayAvailability('UTC', { breaks: [], weeklyHours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00:00', end: '12:00:00' }] });
    await repo.update(withAvailability(current, mornings));
    const again = await ensureSlots(repo, schedule.id!, new Date('2027-01-09T00:00:00Z'), sync);
    expect(again).toMatchObject({ created: 0, removed: 5 * 16 });
    const tuesday = await slotsOfDay(schedule.id!, '2027-01-05');
    expect(tuesday).toHaveLength(12);
    expect(tuesday.filter((s) => s.status === 'busy')).toHaveLength(2);
  });

  it('$find proposes free times of the visit type, ordered by start, and honours _count', async () => {
    const { practitioner } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Find');
    const found = await ops.find({ practitioner: `Practitioner/${practitioner.id}`, start: '2027-01-05T00:00:00Z', end: '2027-01-06T00:00:00Z', _count: '100' });
    // 09:00–12:00 and 13:00–17:00 in 15-minute steps, each leaving room for 30 minutes: 11 + 15.
    expect(found).toHaveLength(26);
    expect(found[0]).toMatchObject({ status: 'proposed', start: '2027-01-05T09:00:00Z', end: '2027-01-05T09:30:00Z', minutesDuration: 30 });
    expect(found[0].slot).toHaveLength(2);
    expect(found[0].serviceType?.[0].coding?.[0].code).toBe('540');
    expect(found.map((a) => a.start)).toEqual([...found.map((a) => a.start!)].sort());
    expect(found.some((a) => a.start === '2027-01-05T11:45:00Z')).toBe(false); // would run into lunch

    const hour = await ops.find({ practitioner: practitioner.id!, start: '2027-01-05T00:00:00Z', end: '2027-01-06T00:00:00Z', 'visit-type': 'in-person-60', _count: '3' });
    expect(hour.map((a) => a.start)).toEqual(['2027-01-05T09:00:00Z', '2027-01-05T09:15:00Z', '2027-01-05T09:30:00Z']);
    expect(hour[0].slot).toHaveLength(4);
    expect(hour[0].serviceType).toBeUndefined();
  });

  it('keeps the buffer free around a booked visit, and frees it again on cancellation', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC', { bufferMinutes: 15 }), 'Buffer');
    const day = { schedule: schedule.id!, start: '2027-01-06T00:00:00Z', end: '2027-01-07T00:00:00Z', _count: '100' };
    const at10 = (await ops.find(day)).find((a) => a.start === '2027-01-06T10:00:00Z')!;
    const booked = (await ops.book(at10)).body as Appointment;
    expect(await statusAt(schedule.id!, '2027-01-06T09:45:00Z')).toBe('busy-unavailable');
    expect(await statusAt(schedule.id!, '2027-01-06T10:30:00Z')).toBe('busy-unavailable');
    const starts = (await ops.find(day)).map((a) => a.start);
    expect(starts).toContain('2027-01-06T09:15:00Z'); // ends 09:45, a buffer before 10:00
    expect(starts).not.toContain('2027-01-06T09:30:00Z');
    expect(starts).not.toContain('2027-01-06T10:30:00Z');
    expect(starts).toContain('2027-01-06T10:45:00Z');

    // A visit right after the first one's buffer shares nothing; cancelling the first frees only its own Slots.
    const at1045 = (await ops.find(day)).find((a) => a.start === '2027-01-06T10:45:00Z')!;
    await ops.book(at1045);
    const cancelled = (await ops.cancel(booked.id!, 'Patient is ill')).body as Appointment;
    expect(cancelled).toMatchObject({ status: 'cancelled', cancelationReason: { text: 'Patient is ill' } });
    for (const t of ['09:45', '10:00', '10:15']) expect(await statusAt(schedule.id!, `2027-01-06T${t}:00Z`)).toBe('free');
    expect(await statusAt(schedule.id!, '2027-01-06T10:30:00Z')).toBe('busy-unavailable'); // the second visit's buffer
    expect(await statusAt(schedule.id!, '2027-01-06T10:45:00Z')).toBe('busy');
    // Cancelling twice is fine and changes nothing.
    expect(((await ops.cancel(booked.id!)).body as Appointment).meta?.versionId).toBe(cancelled.meta?.versionId);
  });

  it('$cancel of an Appointment cancelled elsewhere (the meetings workflow, a plain update) frees its time', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC', { bufferMinutes: 15 }), 'Elsewhere');
    const day = { schedule: schedule.id!, start: '2027-01-06T00:00:00Z', end: '2027-01-07T00:00:00Z', _count: '100' };
    const at11 = (await ops.find(day)).find((a) => a.start === '2027-01-06T11:00:00Z')!;
    const booked = (await ops.book(at11)).body as Appointment;
    const cancelled = (await repo.update<Appointment>({ ...booked, status: 'cancelled' })).resource;
    expect(await statusAt(schedule.id!, '2027-01-06T11:00:00Z')).toBe('busy');
    expect((await ops.find(day)).map((a) => a.start)).not.toContain('2027-01-06T11:00:00Z');

    const again = (await ops.cancel(booked.id!)).body as Appointment;
    expect(again.meta?.versionId).toBe(cancelled.meta?.versionId);
    for (const t of ['10:45', '11:00', '11:15', '11:30']) expect(await statusAt(schedule.id!, `2027-01-06T${t}:00Z`)).toBe('free');
    expect((await ops.find(day)).map((a) => a.start)).toContain('2027-01-06T11:00:00Z');
  });

  it('20 concurrent $book of the same time: exactly one succeeds, the others get 409', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Race');
    const [proposal] = await ops.find({ schedule: schedule.id!, start: '2027-01-07T09:00:00Z', end: '2027-01-08T00:00:00Z', _count: '1' });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => ops.book(proposal)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(19);
    for (const f of failed) expect(f.reason).toMatchObject({ status: 409, outcome: { issue: [{ code: 'conflict' }] } });
    const appointments = await repo.search<Appointment>('Appointment', { slot: proposal.slot!.map((s) => s.reference!).join(',') });
    expect(appointments.entry?.filter((e) => e.resource?.status === 'booked')).toHaveLength(1);
    const slots = await Promise.all(proposal.slot!.map((s) => repo.read<Slot>('Slot', s.reference!.split('/')[1])));
    for (const s of slots) expect(slotHolders(s)).toHaveLength(1);
  });

  it('overlapping bookings racing for different but overlapping times: one wins', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Overlap');
    const found = await ops.find({ schedule: schedule.id!, start: '2027-01-08T09:00:00Z', end: '2027-01-08T10:00:00Z', _count: '3' });
    const [a, b] = [found[0], found[1]]; // 09:00–09:30 and 09:15–09:45 share the 09:15 Slot
    const results = await Promise.allSettled([ops.book(a), ops.book(b), ops.book(a), ops.book(b)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('a video visit gets its meeting as soon as it is booked', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Video');
    const [video] = await ops.find({ schedule: schedule.id!, start: '2027-01-11T09:00:00Z', end: '2027-01-12T00:00:00Z', _count: '1' });
    const booked = (await ops.book(video)).body as Appointment;
    expect(meetingsCreated).toContain(booked.id);
    const [inPerson] = await ops.find({ schedule: schedule.id!, start: '2027-01-11T13:00:00Z', end: '2027-01-12T00:00:00Z', _count: '1', 'visit-type': 'in-person-60' });
    const other = (await ops.book(inPerson)).body as Appointment;
    expect(meetingsCreated).not.toContain(other.id);
  });

  it('AppointmentResponse: pending until every required participant accepts; a required decline cancels', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Respond');
    const patient = (await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Lovelace' }] })).resource;
    const interpreter = (await repo.create<RelatedPerson>({ resourceType: 'RelatedPerson', patient: { reference: `Patient/${patient.id}` } })).resource;
    const [p] = await ops.find({ schedule: schedule.id!, start: '2027-01-12T09:00:00Z', end: '2027-01-13T00:00:00Z', _count: '1', patient: `Patient/${patient.id}` });
    p.participant.push({ actor: { reference: `RelatedPerson/${interpreter.id}` }, required: 'required', status: 'needs-action' });
    const pending = (await ops.book(p)).body as Appointment;
    expect(pending.status).toBe('pending');
    expect(pending.participant.map((x) => x.status)).toEqual(['accepted', 'accepted', 'needs-action']);
    expect(await statusAt(schedule.id!, pending.start!)).toBe('busy-tentative');
    expect(meetingsCreated).not.toContain(pending.id);

    const tentative = await ops.respond(pending.id!, `RelatedPerson/${interpreter.id}`, 'tentative');
    expect(((tentative.body as { parameter: { resource: Appointment }[] }).parameter[0].resource).status).toBe('pending');
    const accepted = await ops.respond(pending.id!, `RelatedPerson/${interpreter.id}`, 'accepted');
    const booked = (accepted.body as { parameter: { resource: Appointment }[] }).parameter[0].resource;
    expect(booked.status).toBe('booked');
    expect(await statusAt(schedule.id!, pending.start!)).toBe('busy');
    expect(meetingsCreated).toContain(pending.id); // video visit: the meeting follows the booking
    const responses = await repo.search('AppointmentResponse', { appointment: `Appointment/${pending.id}` });
    expect(responses.entry).toHaveLength(2);

    const declined = await ops.respond(pending.id!, `Patient/${patient.id}`, 'declined');
    const cancelled = (declined.body as { parameter: { resource: Appointment }[] }).parameter[0].resource;
    expect(cancelled.status).toBe('cancelled');
    expect(await statusAt(schedule.id!, pending.start!)).toBe('free');
    expect(await failure(() => ops.respond(pending.id!, `Patient/${patient.id}`, 'accepted'))).toMatchObject({ status: 409 });
    expect(await failure(() => ops.respond(pending.id!, 'Practitioner/nobody', 'accepted'))).toMatchObject({ status: 409 });
  });

  it('$hold keeps the time for a while; $book of the hold books it; an expired hold is released', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Hold');
    const day = { schedule: schedule.id!, start: '2027-01-13T09:00:00Z', end: '2027-01-13T12:00:00Z', _count: '50' };
    const [first] = await ops.find(day);
    const held = (await ops.hold(first, 5)).body as Appointment;
    expect(held.status).toBe('pending');
    expect((await ops.find(day)).map((a) => a.start)).not.toContain(first.start);
    expect(await failure(() => ops.book(first))).toMatchObject({ status: 409 });
    const booked = (await ops.book({ ...held })).body as Appointment;
    expect(booked.status).toBe('booked');
    expect(booked.extension).toBeUndefined();

    const later = operationsClient(repo, { db, now: () => new Date(NOW.getTime() + 10 * 60_000) });
    const second = (await ops.find(day))[0];
    const hold2 = (await ops.hold(second, 5)).body as Appointment;
    expect(await failure(() => later.book({ ...hold2 }))).toMatchObject({ status: 409 });
    expect((await later.find(day)).map((a) => a.start)).toContain(second.start); // released by $find
    expect((await repo.read<Appointment>('Appointment', hold2.id!)).status).toBe('cancelled');
  });

  it('invalid inputs answer with an OperationOutcome', async () => {
    const { schedule } = await createPractitionerWithSchedule(repo, weekdayAvailability('UTC'), 'Invalid');
    expect(await failure(() => ops.find({ schedule: schedule.id!, start: '2027-01-14T10:00:00Z', end: '2027-01-14T09:00:00Z' }))).toMatchObject({
      status: 400,
      code: 'invalid',
      expression: ["Parameters.parameter.where(name='end')"],
    });
    expect(await failure(() => ops.find({ practitioner: 'Practitioner/does-not-exist' }))).toMatchObject({ status: 422, code: 'business-rule' });
    expect(await failure(() => ops.find({}))).toMatchObject({ status: 422 });
    const [p] = await ops.find({ schedule: schedule.id!, start: '2027-01-14T09:00:00Z', end: '2027-01-15T00:00:00Z', _count: '1' });
    expect(await failure(() => ops.book({ ...p, end: '2027-01-14T08:00:00Z' }))).toMatchObject({ status: 400, expression: ['Appointment.end'] });
    expect(await failure(() => ops.book({ ...p, start: '2027-01-01T09:00:00Z', end: '2027-01-01T09:30:00Z' }))).toMatchObject({
      status: 422,
      expression: ['Appointment.start'],
    });
    expect(await failure(() => ops.book({ ...p, slot: [] }))).toMatchObject({ status: 422, expression: ['Appointment.slot'] });
    expect(await failure(() => ops.book({ ...p, slot: [{ reference: 'Slot/unknown' }] }))).toMatchObject({ status: 409 });
    expect(await failure(() => ops.book({ ...p, start: '2027-01-14T09:15:00Z', end: '2027-01-14T09:45:00Z' }))).toMatchObject({ status: 422 });
    expect(await failure(() => ops.call('Appointment/$book', { resourceType: 'Patient' }))).toMatchObject({ status: 400 });
    const bundle = (await ops.call('Appointment/$find', undefined, { resourceType: 'Appointment' }, { schedule: schedule.id!, start: '2027-01-14', end: '2027-01-15', _count: '2' })).body as Bundle;
    expect(bundle.entry).toHaveLength(2); // GET-style query parameters work too
  });
});
