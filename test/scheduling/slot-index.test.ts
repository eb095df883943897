import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule, Slot } from '@medplum/fhirtypes';
import type { Database } from '../../src/db/database.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import type { FhirRepository } from '../../src/fhir/repository/repository.js';
import { createSlotIndex, type SlotIndex } from '../../src/scheduling/slot-index.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';
import { createPractitionerWithSchedule, operationsClient, weekdayAvailability } from './support.js';

/**
 * The Slot index read behind $find: one schedule, one status, a start window, in start order, limited — and
 * nothing of another schedule or another organization.
 */
const ORG = '00000000-0000-4000-8000-000000000001';
const OTHER_ORG = '00000000-0000-4000-8000-000000000002';
const BASE = 'http://fhir.test/fhir';
const NOW = new Date('2027-01-04T06:00:00Z');

describe.each(testDatabaseKinds())('Slot index on %s', (kind) => {
  let close: () => Promise<void>;
  let db: Database;
  let repo: FhirRepository;
  let other: FhirRepository;
  let index: SlotIndex;

  beforeAll(async () => {
    const database = await createTestDatabase(kind);
    close = database.close;
    db = database.db;
    const store = createDefaultFhirStore(db);
    repo = store.repository({ orgId: ORG, baseUrl: BASE });
    other = store.repository({ orgId: OTHER_ORG, baseUrl: BASE });
    index = createSlotIndex(db);
  });
  afterAll(async () => close());

  const slot = (repository: FhirRepository, schedule: string, start: string, status: Slot['status'] = 'free') =>
    repository.create<Slot>({
      resourceType: 'Slot',
      schedule: { reference: schedule },
      status,
      start,
      end: new Date(Date.parse(start) + 15 * 60_000).toISOString(),
    });

  it('finds one schedule’s Slots of the statuses asked for starting in [from, to), in start order, at most limit', async () => {
    const mine = (await repo.create<Schedule>({ resourceType: 'Schedule', actor: [{ reference: 'Practitioner/a' }] })).resource;
    const theirs = (await repo.create<Schedule>({ resourceType: 'Schedule', actor: [{ reference: 'Practitioner/b' }] })).resource;
    const ref = `Schedule/${mine.id}`;
    // Written out of order, one with an absolute reference and one with a UTC offset.
    await slot(repo, ref, '2027-02-01T10:00:00Z');
    await slot(repo, ref, '2027-02-01T09:00:00Z');
    await slot(repo, `${BASE}/${ref}`, '2027-02-01T09:30:00Z');
    await slot(repo, ref, '2027-02-01T10:15:00+01:00'); // 09:15 UTC
    await slot(repo, ref, '2027-02-01T08:45:00Z'); // before the window
    await slot(repo, ref, '2027-02-01T10:30:00Z'); // the window ends here, exclusive
    await slot(repo, ref, '2027-02-01T09:45:00Z', 'busy');
    await slot(repo, `Schedule/${theirs.id}`, '2027-02-01T09:00:00Z');
    await slot(other, ref, '2027-02-01T09:00:00Z'); // same id text, another organization
    const deleted = (await slot(repo, ref, '2027-02-01T09:50:00Z')).resource;
    await repo.delete('Slot', deleted.id!);

    const page = { scheduleId: mine.id!, statuses: ['free' as const], from: '2027-02-01T09:00:00.000Z', to: '2027-02-01T10:30:00.000Z', limit: 10 };
    const scope = { orgId: ORG, baseUrl: BASE };
    const free = await index.slotsStarting(scope, page);
    expect(free.map((s) => Date.parse(s.start))).toEqual(['09:00', '09:15', '09:30', '10:00'].map((t) => Date.parse(`2027-02-01T${t}:00Z`)));
    expect(free.every((s) => s.resourceType === 'Slot' && s.status === 'free')).toBe(true);
    expect((await index.slotsStarting(scope, { ...page, limit: 2 })).map((s) => s.start)).toEqual(free.slice(0, 2).map((s) => s.start));
    expect((await index.slotsStarting(scope, { ...page, statuses: ['busy'] })).map((s) => s.start)).toEqual(['2027-02-01T09:45:00Z']);
    expect(await index.slotsStarting(scope, { ...page, statuses: ['free', 'busy'] })).toHaveLength(5);
    expect(await index.slotsStarting({ orgId: OTHER_ORG, baseUrl: BASE }, page)).toHaveLength(1);
  });

  it('$find reads on when the first Slots read hold too few runs for the visit', async () => {
    // Monday has only 45-minute stretches (24 free Slots), so the first hour-long visit is on Tuesday.
    const rules = weekdayAvailability('UTC', {
      weeklyHours: [
        { days: ['mon'], start: '09:00:00', end: '17:00:00' },
        { days: ['tue'], start: '09:00:00', end: '12:00:00' },
      ],
      breaks: [9, 10, 11, 12, 13, 14, 15, 16].map((h) => ({ days: ['mon' as const], start: `${String(h).padStart(2, '0')}:45:00`, end: `${String(h + 1).padStart(2, '0')}:00:00` })),
    });
    const { schedule } = await createPractitionerWithSchedule(repo, rules, 'Gaps');
    const ops = operationsClient(repo, { db, now: () => NOW });
    const [first, second] = await ops.find({ schedule: schedule.id!, start: '2027-01-04T00:00:00Z', end: '2027-01-06T00:00:00Z', 'visit-type': 'in-person-60', _count: '2' });
    expect(first).toMatchObject({ start: '2027-01-05T09:00:00Z', end: '2027-01-05T10:00:00Z' });
    expect(second).toMatchObject({ start: '2027-01-05T09:15:00Z' });
    const thirty = await ops.find({ schedule: schedule.id!, start: '2027-01-04T00:00:00Z', end: '2027-01-06T00:00:00Z', _count: '3' });
    expect(thirty.map((a) => a.start)).toEqual(['2027-01-04T09:00:00Z', '2027-01-04T09:15:00Z', '2027-01-04T10:00:00Z']);
  });
});
