/**
 * npm run bench:meetings — the virtual meeting workflow on real PostgreSQL: whole lifecycles per second
 * (create for an Appointment → patient joins → host joins and starts it → host ends it) and join-by-code
 * latency, with plain FHIR creates through the same repository measured in the same run as the baseline.
 * Calls go to the service layer (no HTTP), with a fixed number of concurrent workers.
 * Targets on a 2-core machine: ≥ 150 lifecycles/s, join p99 < 50 ms.
 */
import type { Appointment, Patient, Practitioner } from '@medplum/fhirtypes';
import type { Principal } from '../src/auth/principal.js';
import { loadConfig } from '../src/config.js';
import { PostgresDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createDefaultFhirStore } from '../src/fhir/default-store.js';
import { createMeetingsModule } from '../src/meetings/module.js';
import { freshDatabase, markdownTable } from './support/servers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WORKERS = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ORG = 'bench-org';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(workers: number, seconds: number, step: () => Promise<void>): Promise<{ count: number; perSecond: number }> {
  const until = performance.now() + seconds * 1000;
  let count = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        await step();
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { count, perSecond: count / elapsed };
}

async function main(): Promise<void> {
  const fresh = await freshDatabase('bench_meetings');
  const db = new PostgresDatabase(fresh.url, WORKERS + 4);
  try {
    await migrate(db);
    const store = createDefaultFhirStore(db);
    const config = loadConfig({ PUBLIC_BASE_URL: 'https://clinic.bench', DEMO_DATA: 'false' });
    const meetings = createMeetingsModule({ config, db, store, sealer: { seal: (s) => s, open: (s) => s } });
    const repo = store.repository({ orgId: ORG, baseUrl: 'https://clinic.bench/fhir' });

    const patient = (await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Bench' }], birthDate: '1970-01-01' })).resource;
    const practitioner = (await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Bench' }] })).resource;
    const host: Principal = { orgId: ORG, kind: 'user', subject: 'u-host', role: 'practitioner', fhirUser: `Practitioner/${practitioner.id}`, displayName: 'Dr. Bench', scopes: [] };
    const patientUser: Principal = { orgId: ORG, kind: 'user', subject: 'u-pat', role: 'patient', fhirUser: `Patient/${patient.id}`, displayName: 'Pat', scopes: [] };
    const appointment = (): Appointment => ({
      resourceType: 'Appointment',
      status: 'booked',
      start: new Date(Date.now() + 3_600_000).toISOString(),
      end: new Date(Date.now() + 5_400_000).toISOString(),
      participant: [
        { actor: { reference: `Patient/${patient.id}` }, status: 'accepted' },
        { actor: { reference: `Practitioner/${practitioner.id}` }, status: 'accepted' },
      ],
    });

    // Warm-up: validation definitions, JIT, pool connections.
    for (let i = 0; i < 20; i++) await repo.create(appointment());

    // Baseline: FHIR creates of the same Appointment through the same repository.
    const booked: string[] = [];
    const baseline = await timed(WORKERS, SECONDS, async () => {
      booked.push((await repo.create(appointment())).resource.id!);
    });

    // Lifecycles, each on an Appointment booked by the baseline phase (booking is not part of a lifecycle).
    const joinMs: number[] = [];
    let next = 0;
    const lifecycle = await timed(WORKERS, SECONDS, async () => {
      const id = booked[next++] ?? (await repo.create(appointment())).resource.id!;
      const { meeting } = await meetings.service.createMeetingForAppointment(host, id);
      let t = performance.now();
      await meetings.service.joinByCode(meeting.meetingCode, {}, patientUser);
      joinMs.push(performance.now() - t);
      t = performance.now();
      await meetings.service.joinByCode(meeting.meetingCode, {}, host);
      joinMs.push(performance.now() - t);
      await meetings.service.endMeeting(host, meeting.id);
    });
    joinMs.sort((a, b) => a - b);

    const ok = await db.query<{ n: string }>(`SELECT count(*) AS n FROM virtual_meetings WHERE status = 'ended' AND encounter_id IS NOT NULL`);
    const fmt = (n: number) => n.toFixed(1);
    console.log(`\nVirtual meetings on PostgreSQL — ${WORKERS} concurrent workers, ${SECONDS} s per phase\n`);
    console.log(
      markdownTable(
        ['phase', 'operations', 'per second', 'p50 ms', 'p99 ms', 'target'],
        [
          ['FHIR create (Appointment), baseline', baseline.count, fmt(baseline.perSecond), '', '', ''],
          ['meeting lifecycle (create → 2 joins → end)', lifecycle.count, fmt(lifecycle.perSecond), '', '', '≥ 150/s'],
          ['join by code (patient and starting host)', joinMs.length, '', fmt(percentile(joinMs, 50)), fmt(percentile(joinMs, 99)), 'p99 < 50 ms'],
        ],
      ),
    );
    console.log(`\nlifecycle / FHIR create: ${(lifecycle.perSecond / baseline.perSecond).toFixed(2)} (a lifecycle makes 5 FHIR writes)`);
    console.log(`meetings ended with a finished Encounter: ${ok.rows[0].n} of ${lifecycle.count}`);
    const pass = lifecycle.perSecond >= 150 && percentile(joinMs, 99) < 50;
    console.log(pass ? 'targets met' : 'targets NOT met');
  } finally {
    await db.close();
    await fresh.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
