/**
 * npm run bench:scheduling — on real PostgreSQL (BENCH_DATABASE_URL, default the local server): 50
 * practitioners with 30 days of materialized Slots; `$find` over 30 days for one of them (target p50 < 20 ms),
 * then `$book` under contention (many clerks racing for the same and overlapping times). It asserts that no
 * time was ever booked twice. Operations are called as the FHIR router calls them (no HTTP in the numbers).
 */
import type { Appointment, Bundle, Practitioner, Slot } from '@medplum/fhirtypes';
import { PostgresDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createDefaultFhirStore } from '../src/fhir/default-store.js';
import { allowAll } from '../src/fhir/rest/types.js';
import { visitTypeCoding, withAvailability, type Availability } from '../src/scheduling/availability.js';
import { slotHolders } from '../src/scheduling/fhir.js';
import { schedulingOperations } from '../src/scheduling/operations.js';
import { ensureSlots } from '../src/scheduling/slot-sync.js';
import { searchAll } from '../src/scheduling/slot-store.js';
import { freshDatabase, markdownTable } from './support/servers.js';

const PRACTITIONERS = Number(process.env.BENCH_PRACTITIONERS ?? 50);
const DAYS = 30;
const FIND_RUNS = Number(process.env.BENCH_FIND_RUNS ?? 200);
const BOOK_ROUNDS = Number(process.env.BENCH_BOOK_ROUNDS ?? 30);
const RACERS = 20;
const ORG = '00000000-0000-4000-8000-000000000001';

const availability: Availability = {
  timeZone: 'America/New_York',
  slotMinutes: 15,
  bufferMinutes: 15,
  weeklyHours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00:00', end: '18:00:00' }],
  breaks: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '12:00:00', end: '13:00:00' }],
  visitTypes: [{ type: visitTypeCoding('video-30'), durationMinutes: 30, video: true }],
  exceptions: [],
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const fresh = await freshDatabase('bench_sched');
  const db = new PostgresDatabase(fresh.url, 20);
  try {
    await migrate(db);
    const store = createDefaultFhirStore(db);
    const repo = store.repository({ orgId: ORG, baseUrl: 'http://bench/fhir' });
    const ops = new Map(schedulingOperations({ db }).map((o) => [o.key, o.handler]));
    const call = (key: string, body: unknown) =>
      ops.get(key)!({ method: 'POST', path: key, query: {}, body, headers: {} }, { repo, access: allowAll }, { resourceType: 'Appointment' });

    // Setup: practitioners, schedules and 30 days of Slots.
    const now = new Date();
    const until = new Date(now.getTime() + DAYS * 86_400_000);
    const setupStart = performance.now();
    const practitioners: string[] = [];
    const schedules: string[] = [];
    for (let i = 0; i < PRACTITIONERS; i++) {
      const p = (await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: `Bench${i}` }] })).resource;
      const s = (await repo.create(withAvailability({ resourceType: 'Schedule', active: true, actor: [{ reference: `Practitioner/${p.id}` }] }, availability))).resource;
      practitioners.push(p.id!);
      schedules.push(s.id!);
    }
    let slotCount = 0;
    for (let i = 0; i < schedules.length; i += 5) {
      const done = await Promise.all(schedules.slice(i, i + 5).map((id) => ensureSlots(repo, id, until, { now, maxHorizonDays: 90 })));
      slotCount += done.reduce((n, r) => n + (r?.created ?? 0), 0);
      console.error(`slots for ${Math.min(i + 5, schedules.length)}/${schedules.length} schedules: ${slotCount} (${((performance.now() - setupStart) / 1000).toFixed(1)} s)`);
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    // Planner statistics, as autovacuum keeps them on a running server: without them PostgreSQL takes the
    // freshly loaded tables for empty ones and scans every Slot of the organization (bench:search does the same).
    await db.exec('VACUUM ANALYZE');

    // $find over 30 days for one of the 50 practitioners.
    const find = (practitioner: string, count = 50) =>
      call('Appointment/$find', {
        resourceType: 'Parameters',
        parameter: [
          { name: 'practitioner', valueString: `Practitioner/${practitioner}` },
          { name: 'start', valueDateTime: now.toISOString() },
          { name: 'end', valueDateTime: until.toISOString() },
          { name: '_count', valueInteger: count },
        ],
      });
    for (let i = 0; i < 10; i++) await find(practitioners[i % PRACTITIONERS]); // warm-up
    const findTimes: number[] = [];
    for (let i = 0; i < FIND_RUNS; i++) {
      const t = performance.now();
      const res = await find(practitioners[Math.floor(Math.random() * PRACTITIONERS)]);
      findTimes.push(performance.now() - t);
      if (((res.body as Bundle).entry ?? []).length === 0) throw new Error('$find found nothing');
    }
    findTimes.sort((a, b) => a - b);

    // $book under contention: each round, 20 racers on one practitioner's first four proposals (which overlap).
    let attempts = 0;
    let successes = 0;
    let conflicts = 0;
    const bookStart = performance.now();
    for (let round = 0; round < BOOK_ROUNDS; round++) {
      const practitioner = practitioners[round % PRACTITIONERS];
      const proposals = ((await find(practitioner, 4)).body as Bundle<Appointment>).entry!.map((e) => e.resource!);
      const results = await Promise.allSettled(
        Array.from({ length: RACERS }, (_, i) => call('Appointment/$book', { resourceType: 'Parameters', parameter: [{ name: 'appointment', resource: proposals[i % proposals.length] }] })),
      );
      for (const r of results) {
        attempts++;
        if (r.status === 'fulfilled') successes++;
        else if ((r.reason as { status?: number }).status === 409) conflicts++;
        else throw r.reason;
      }
    }
    const bookSeconds = (performance.now() - bookStart) / 1000;

    // No double booking, ever: no Slot held by two visits, no two booked visits of a schedule overlapping.
    const booked = await searchAll<Appointment>(repo, 'Appointment', { status: 'booked' });
    if (booked.length !== successes) throw new Error(`${successes} bookings succeeded but ${booked.length} Appointments are booked`);
    const bySchedule = new Map<string, Appointment[]>();
    for (const a of booked) {
      const slot = await repo.read<Slot>('Slot', a.slot![0].reference!.split('/')[1]);
      const key = slot.schedule.reference!;
      bySchedule.set(key, [...(bySchedule.get(key) ?? []), a]);
      for (const ref of a.slot!) {
        const s = await repo.read<Slot>('Slot', ref.reference!.split('/')[1]);
        const visits = slotHolders(s).filter((h) => h.role === 'visit');
        if (visits.length !== 1 || visits[0].appointmentId !== a.id) throw new Error(`double booking: Slot/${s.id} holders ${JSON.stringify(visits)}`);
      }
    }
    for (const list of bySchedule.values()) {
      list.sort((x, y) => Date.parse(x.start!) - Date.parse(y.start!));
      for (let i = 1; i < list.length; i++) {
        if (Date.parse(list[i].start!) < Date.parse(list[i - 1].end!) + availability.bufferMinutes * 60_000) {
          throw new Error(`double booking: Appointment/${list[i - 1].id} and Appointment/${list[i].id} overlap or break the buffer`);
        }
      }
    }

    const f = (n: number) => n.toFixed(1);
    console.log(`\n### Scheduling on PostgreSQL (${PRACTITIONERS} practitioners, ${slotCount} Slots over ${DAYS} days, set up in ${setupSeconds.toFixed(1)} s)\n`);
    console.log(
      markdownTable(
        ['measure', 'value', 'target'],
        [
          ['$find 30 days, p50 (ms)', f(percentile(findTimes, 50)), '< 20'],
          ['$find 30 days, p95 (ms)', f(percentile(findTimes, 95)), ''],
          ['$find 30 days, p99 (ms)', f(percentile(findTimes, 99)), ''],
          [`$book attempts (${RACERS} racers × ${BOOK_ROUNDS} rounds)`, attempts, ''],
          ['$book attempts/s under contention', Math.round(attempts / bookSeconds), ''],
          ['$book successes / 409 conflicts', `${successes} / ${conflicts}`, ''],
          ['double bookings', 0, '0 (asserted)'],
        ],
      ),
    );
    if (percentile(findTimes, 50) >= 20) process.exitCode = 1;
  } finally {
    await db.close();
    await fresh.drop();
  }
}

await main();
