import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Bundle, Slot } from '@medplum/fhirtypes';
import { DateTime } from 'luxon';
import { accounts } from '../../src/auth/accounts.js';
import { loadConfig } from '../../src/config.js';
import { bootstrap } from '../../src/auth/bootstrap.js';
import { DEMO_SCHEDULE_ID, seedDemoData } from '../../src/demo/seed.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import type { FhirStore } from '../../src/fhir/store.js';
import { createMeetingsModule } from '../../src/meetings/module.js';
import { slotHolders } from '../../src/scheduling/fhir.js';
import { slotsOf } from '../../src/scheduling/slot-store.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';
import { operationsClient } from '../scheduling/support.js';

/**
 * A new install with demo data, on a Monday at 10:05 in the clinic's zone (Berlin): the demo practitioner has
 * published weekday hours, today's and tomorrow's video visits are booked on them, and the booking form's
 * $find offers the rest of the day.
 */
describe.each(testDatabaseKinds())('demo data for a new install on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: FhirStore;
  const now = new Date('2026-03-02T09:05:00Z');
  const baseUrl = 'http://clinic.test/fhir';

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    const config = loadConfig({ PUBLIC_BASE_URL: 'http://clinic.test', DATA_DIR: '/tmp/telehealth-demo-test', DEFAULT_TIME_ZONE: 'Europe/Berlin' });
    store = createDefaultFhirStore(database.db);
    const first = await bootstrap(database.db, store, config);
    expect(first.created).toBe(true);
    const meetings = createMeetingsModule({ config, db: database.db, store });
    const timeZone = (await accounts.getOrganization(database.db, DEFAULT_ORG_ID))!.timeZone;
    expect(timeZone).toBe('Europe/Berlin');
    await seedDemoData({ store, meetings: meetings.service, baseUrl, timeZone, now });
  });
  afterAll(() => database?.close());

  const repo = () => store.repository({ orgId: DEFAULT_ORG_ID, baseUrl });
  const visits = async () => {
    const bundle = (await repo().search('Appointment', { actor: 'Practitioner/demo-practitioner', _sort: 'date' })) as Bundle<Appointment>;
    return (bundle.entry ?? []).map((e) => e.resource!);
  };
  const slots = () => slotsOf(repo(), DEMO_SCHEDULE_ID, '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z');
  const overlaps = (a: { start?: string; end?: string }, b: { start?: string; end?: string }) =>
    Date.parse(a.start!) < Date.parse(b.end!) && Date.parse(b.start!) < Date.parse(a.end!);

  it('gives the demo practitioner today’s video visits with join links, and running it twice adds nothing', async () => {
    const appointments = await visits();
    // 10:30 and tomorrow 10:30 in working hours; the second one falls in the lunch break, outside them.
    expect(appointments.map((a) => a.start)).toEqual(['2026-03-02T09:30:00Z', '2026-03-02T11:00:00Z', '2026-03-03T09:30:00Z']);
    for (const a of appointments) {
      expect(a.status).toBe('booked');
      expect(a.meta?.versionId).toBe('2'); // booked, then the meeting's virtualService extension
      const virtualService = a.extension?.find((e) => e.url.endsWith('extension-Appointment.virtualService'));
      const address = virtualService?.extension?.find((e) => e.url === 'address')?.valueUrl;
      expect(address).toMatch(/^http:\/\/clinic\.test\/join\/[A-Z0-9]{8,}$/);
    }
    const slotCount = (await slots()).length;
    expect(slotCount).toBeGreaterThan(100); // two weeks of weekdays, 14 half hours a day

    const config = loadConfig({ PUBLIC_BASE_URL: 'http://clinic.test', DATA_DIR: '/tmp/telehealth-demo-test', DEFAULT_TIME_ZONE: 'Europe/Berlin' });
    const meetings = createMeetingsModule({ config, db: database.db, store });
    await seedDemoData({ store, meetings: meetings.service, baseUrl, timeZone: 'Europe/Berlin', now });
    expect((await visits()).map((a) => a.meta?.versionId)).toEqual(['2', '2', '2']);
    expect((await slots()).length).toBe(slotCount);
    const rows = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM virtual_meetings');
    expect(rows.rows[0].n).toBe(3);
  });

  it('publishes weekday hours in the clinic’s zone, so $find offers free times for the demo practitioner', async () => {
    const ops = operationsClient(repo(), { db: database.db, now: () => now });
    const proposals = await ops.find({ practitioner: 'Practitioner/demo-practitioner', start: now.toISOString(), end: '2026-03-09T00:00:00Z', _count: '100' });
    expect(proposals.length).toBeGreaterThan(20);
    // The first free half hour today: 11:00 in Berlin (10:30 is the first visit's).
    expect(proposals[0].start).toBe('2026-03-02T10:00:00Z');
    expect(proposals[0].minutesDuration).toBe(30);
    for (const p of proposals) {
      const local = DateTime.fromISO(p.start!, { zone: 'Europe/Berlin' });
      const hhmm = local.toFormat('HH:mm');
      expect(local.weekday).toBeLessThanOrEqual(5);
      expect(hhmm >= '09:00' && hhmm < '17:00' && !(hhmm >= '12:00' && hhmm < '13:00')).toBe(true);
    }
    const seeded = await visits();
    for (const p of proposals) for (const v of seeded) expect(overlaps(p, v), `${p.start} overlaps ${v.id}`).toBe(false);
  });

  it('takes the Slots of the visits in working hours, and leaves no free Slot over any visit', async () => {
    const seeded = await visits();
    const all = await slots();
    for (const v of seeded) {
      for (const s of all.filter((slot) => overlaps(slot, v))) {
        expect(s.status, `Slot at ${s.start} under ${v.id}`).toBe('busy');
        expect(slotHolders(s)).toEqual([{ appointmentId: v.id, role: 'visit' }]);
      }
    }
    const [first, lunch, tomorrow] = seeded;
    expect(first.slot?.map((r) => r.reference)).toHaveLength(1);
    expect(tomorrow.slot?.map((r) => r.reference)).toHaveLength(1);
    expect(lunch.slot).toBeUndefined();
    const firstSlot = all.find((s: Slot) => `Slot/${s.id}` === first.slot![0].reference)!;
    expect([firstSlot.start, firstSlot.status]).toEqual(['2026-03-02T09:30:00Z', 'busy']);
  });
});
