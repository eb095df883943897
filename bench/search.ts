/**
 * npm run bench:search — selective FHIR searches on real PostgreSQL with ≥ 200,000 resources, side by side
 * with the same questions written by hand in SQL; and the write cost of search indexing.
 *
 *  1. Load: copies of the Synthea fixtures (new ids, references kept within each copy) and generated
 *     Appointments of 50 practitioners, written straight into the tables by bench/support/bulk-load.ts with
 *     exactly the rows the repository writes (the benchmark measures search, not loading).
 *  2. Search, one client, one query at a time: the hand-written SQL (baseline) against the search engine
 *     (`searchResources`: parse + SQL + Bundle, no HTTP), interleaved sample by sample.
 *  3. Search over HTTP under load: the real server process (dist/src/main.js as `npm start` runs it, with authentication) against a bare
 *     Fastify + pg server running the hand-written SQL (bench/support/search-baseline-server.ts), autocannon.
 *  4. Create throughput over HTTP, as clients see it: the server with its search indexing against the same server
 *     whose store extracts nothing (bench/support/fhir-server.ts), 10 connections, strictly alternating runs.
 *  5. Create throughput through the repository, one client, no HTTP and no validation (so indexing weighs more
 *     than anywhere a client can see): without indexing, with indexing in the write statement, and with the
 *     side-table rows in a statement of their own (the write path before they were folded in).
 *
 * Targets (issue 3): search p50 < 10 ms and p99 < 50 ms; creates with indexing ≥ 80% of creates without.
 * Knobs: BENCH_COPIES, BENCH_DAYS, BENCH_SAMPLES, BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_WRITE_CREATES, BENCH_WRITE_ROUNDS,
 * BENCH_WRITE_HTTP_ROUNDS,
 * BENCH_EXPLAIN=1 (plans),
 * BENCH_KEEP_DATABASE=1 (leave the loaded database for a closer look; its URL is printed).
 */
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { Resource } from '@medplum/fhirtypes';
import { PostgresDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { PostgresFhirRepository, type RepositoryDependencies } from '../src/fhir/repository/postgres-repository.js';
import { deleteIndexRows, extractIndexes, indexRowsSql, searchCompartment, searchResources, writeIndexRows } from '../src/fhir/search/index.js';
import { EMPTY_INDEXES } from '../src/fhir/search/types.js';
import { DEFAULT_ORG_ID } from '../src/tenancy.js';
import { alternate, median } from './support/alternate.js';
import { bulkLoad, withoutSecondaryIndexes, type IndexedResource } from './support/bulk-load.js';
import { clientAuthorization } from './support/client-token.js';
import { appointments, planDay, seededRandom, syntheaCopyIndexed, syntheaTemplate, type AppointmentPlan } from './support/search-dataset.js';
import {
  appointmentsOfPractitionerOnDay,
  encountersOfPatient,
  patientsByName,
  type SearchCase,
  type SearchCaseName,
} from './support/search-queries.js';
import { buildServer, freshDatabase, markdownTable, startProcess, stopProcess } from './support/servers.js';

const COPIES = Number(process.env.BENCH_COPIES ?? 80);
const DAYS = Number(process.env.BENCH_DAYS ?? 60);
const PRACTITIONERS = 50;
const VERIFIED_COPIES = 2;
const SLOTS_PER_DAY = 16;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const HTTP_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const HTTP_LOADS = [1, CONNECTIONS];
const WRITE_SAMPLE = 400;
const WRITE_CREATES = Number(process.env.BENCH_WRITE_CREATES ?? 2000);
const WRITE_ROUNDS = Number(process.env.BENCH_WRITE_ROUNDS ?? 7);
const WRITE_HTTP_ROUNDS = Number(process.env.BENCH_WRITE_HTTP_ROUNDS ?? 5);
const WRITE_HTTP_CONNECTIONS = 10;
const INDEXED_PORT = 18413;
const UNINDEXED_PORT = 18414;
const FHIR_PORT = 18411;
const BASE_PORT = 18412;
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-secret-0123456789abcdef0123456789';
const TARGET_P50 = 10;
const TARGET_P99 = 50;
const TARGET_WRITE_RATIO = 0.8;

const CASES: SearchCaseName[] = ['appointments of a practitioner on a day', 'patients by name', 'encounters of a patient'];

const log = (text: string) => process.stderr.write(`${text}\n`);
const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latency(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

const verdict = (p50: number, p99: number) => (p50 < TARGET_P50 && p99 < TARGET_P99 ? 'met' : 'NOT met');

// ------------------------------------------------------------------------------------------------- load

interface Dataset {
  resources: number;
  seconds: number;
  practitioners: string[];
  patients: string[];
  families: string[];
  plan: AppointmentPlan;
}

async function load(db: PostgresDatabase): Promise<Dataset> {
  const t0 = performance.now();
  const template = syntheaTemplate();
  const ofType = (type: string) => template.resources.filter((r) => r.resourceType === type).map((r) => r.id as string);
  const idsInCopies = (type: string) => ofType(type).flatMap((id) => Array.from({ length: COPIES }, (_, n) => `c${n}-${id}`));
  const practitioners = idsInCopies('Practitioner');
  const plan: AppointmentPlan = {
    // spread over the copies, so the appointments' practitioners are not all from one
    practitioners: Array.from({ length: PRACTITIONERS }, (_, i) => practitioners[Math.floor((i * practitioners.length) / PRACTITIONERS)]),
    patients: idsInCopies('Patient'),
    locations: idsInCopies('Location'),
    firstDay: '2024-01-01',
    days: DAYS,
    slotsPerDay: SLOTS_PER_DAY,
  };
  function* all(): Generator<IndexedResource> {
    // Search values of the first copies are checked against extraction; the others reuse the template's.
    for (let n = 0; n < COPIES; n++) yield* syntheaCopyIndexed(template, n, n < VERIFIED_COPIES);
    for (const resource of appointments(plan)) yield { resource };
  }
  const resources = await withoutSecondaryIndexes(db, async () => {
    const { count, waitedForDatabaseMs } = await bulkLoad(db, DEFAULT_ORG_ID, all());
    log(`loaded ${count} resources in ${((performance.now() - t0) / 1000).toFixed(0)} s (${(waitedForDatabaseMs / 1000).toFixed(0)} s waiting for the database); building indexes`);
    return count;
  });
  log(`indexes built after ${((performance.now() - t0) / 1000).toFixed(0)} s; analyzing`);
  await db.exec('VACUUM ANALYZE');
  const families = [
    ...new Set(
      template.resources
        .filter((r) => r.resourceType === 'Patient')
        .flatMap((r) => ((r as { name?: { family?: string }[] }).name ?? []).map((n) => n.family).filter((f): f is string => !!f)),
    ),
  ];
  return { resources, seconds: (performance.now() - t0) / 1000, practitioners: plan.practitioners, patients: plan.patients, families, plan };
}

/** SAMPLES instances of each search, with parameters drawn from the data (the same ones for FHIR and SQL). */
function searchCases(data: Dataset): Map<SearchCaseName, SearchCase[]> {
  const random = seededRandom(7);
  const pick = <T>(a: T[]) => a[Math.floor(random() * a.length)];
  const make: Record<SearchCaseName, () => SearchCase> = {
    'appointments of a practitioner on a day': () =>
      appointmentsOfPractitionerOnDay(DEFAULT_ORG_ID, pick(data.practitioners), planDay(data.plan, Math.floor(random() * data.plan.days))),
    'patients by name': () => patientsByName(DEFAULT_ORG_ID, pick(data.families)),
    'encounters of a patient': () => encountersOfPatient(DEFAULT_ORG_ID, pick(data.patients)),
  };
  return new Map(CASES.map((name) => [name, Array.from({ length: SAMPLES }, make[name])]));
}

// ---------------------------------------------------------------------------------------- search: direct

const searchContext = { orgId: DEFAULT_ORG_ID, baseUrl: `http://127.0.0.1:${FHIR_PORT}/fhir` };

const engineSearch = (db: PostgresDatabase, c: SearchCase) => searchResources(db, searchContext, c.type, c.query, { strict: true });

/** Both sides must answer the same: the ids of the first page, in order. */
async function checkSameAnswers(db: PostgresDatabase, cases: SearchCase[]): Promise<void> {
  for (const c of cases.slice(0, 20)) {
    const fhir = ((await engineSearch(db, c)).entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id);
    const sql = (await db.query<{ id: string }>(c.sql, c.params)).rows.slice(0, 20).map((r) => r.id);
    if (JSON.stringify(fhir) !== JSON.stringify(sql)) {
      throw new Error(`${c.name}: FHIR and SQL answers differ for ${JSON.stringify(c.query)}:\n${fhir.join(',')}\n${sql.join(',')}`);
    }
  }
}

async function measureDirect(db: PostgresDatabase, cases: SearchCase[]): Promise<{ sql: number[]; fhir: number[]; matches: number }> {
  const sql: number[] = [];
  const fhir: number[] = [];
  let matches = 0;
  for (const c of cases.slice(0, 20)) {
    await db.query(c.sql, c.params);
    await engineSearch(db, c);
  }
  for (const c of cases) {
    let t = performance.now();
    await db.query(c.sql, c.params);
    sql.push(performance.now() - t);
    t = performance.now();
    const bundle = await engineSearch(db, c);
    fhir.push(performance.now() - t);
    matches += bundle.entry?.length ?? 0;
  }
  return { sql, fhir, matches: matches / cases.length };
}

async function explain(db: PostgresDatabase, c: SearchCase): Promise<void> {
  // What the engine sends is only known inside it: capture it from a wrapped Queryable.
  let captured: { sql: string; params?: unknown[] } | undefined;
  await searchResources(
    { query: async (sql, params) => ((captured ??= { sql, params }), db.query(sql, params)) },
    searchContext,
    c.type,
    c.query,
    { strict: true },
  );
  for (const [label, q] of [['FHIR', captured!], ['SQL', { sql: c.sql, params: c.params }]] as const) {
    const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params);
    log(`\n--- ${c.name}, ${label}:\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
}

// ------------------------------------------------------------------------------------------ search: HTTP

interface HttpResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measureHttp(base: string, paths: string[], headers: Record<string, string>, connections: number): Promise<HttpResult> {
  // Warm-up: the first requests of a process compile code and load definitions.
  for (const path of paths.slice(0, 30)) {
    const res = await fetch(`${base}${path}`, { headers });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  let i = 0;
  const result = await autocannon({
    url: base,
    duration: HTTP_SECONDS,
    connections,
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length] }) }],
  } as autocannon.Options);
  return { rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors };
}

const fhirPath = (c: SearchCase) => `/fhir/${c.type}?${new URLSearchParams(c.query)}`;

// ----------------------------------------------------------------------------------------------- writes

type WriteVariant = 'without indexing' | 'with indexing, one statement' | 'with indexing, separate statement';

function writeDeps(variant: WriteVariant): RepositoryDependencies {
  const indexing = variant !== 'without indexing';
  return {
    // Validation costs the same with or without indexing; leaving it out makes the comparison stricter.
    validate: (r) => r as Resource,
    extractIndexes: indexing ? extractIndexes : () => EMPTY_INDEXES,
    writeIndexRows: indexing ? writeIndexRows : async () => undefined,
    // Without indexing the write is still the one-statement path, with no index CTEs: only indexing differs.
    ...(variant !== 'with indexing, separate statement' ? { indexRowsSql } : {}),
    deleteIndexRows,
    search: searchResources,
    searchCompartment,
  };
}

interface WriteRates {
  /** median creates/s of each variant */
  rates: Map<WriteVariant, number>;
  /** the variant's creates/s over the same round's creates without indexing: median, lowest, highest */
  ratios: Map<WriteVariant, { median: number; min: number; max: number }>;
}

async function measureWrites(db: PostgresDatabase): Promise<WriteRates> {
  const template = syntheaTemplate().resources.filter((r) => r.resourceType === 'Patient' || r.resourceType === 'Encounter');
  const sample = template.slice(0, WRITE_SAMPLE);
  const variants: WriteVariant[] = ['without indexing', 'with indexing, one statement', 'with indexing, separate statement'];
  const repos = new Map(variants.map((v, i) => [v, new PostgresFhirRepository(db, { orgId: `bench-write-${i}`, baseUrl: 'http://bench/fhir' }, writeDeps(v))]));
  const timed = async (variant: WriteVariant, resource: Resource): Promise<number> => {
    const t0 = performance.now();
    await repos.get(variant)!.create({ ...resource, id: undefined });
    return performance.now() - t0;
  };
  for (const r of sample) for (const v of variants) await timed(v, r); // warm-up
  // The machine is shared, its speed drifts and a commit's disk flush varies from one moment to the next: the
  // variants take turns create by create (the same resource through each, in an order that rotates), so all of
  // them meet the same conditions, and each round's sums are compared.
  const rates = new Map<WriteVariant, number[]>(variants.map((v) => [v, []]));
  const ratios = new Map<WriteVariant, number[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < WRITE_ROUNDS; round++) {
    const ms = new Map<WriteVariant, number>(variants.map((v) => [v, 0]));
    for (let i = 0; i < WRITE_CREATES; i++) {
      const resource = sample[i % sample.length];
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(i + k) % variants.length];
        ms.set(v, ms.get(v)! + (await timed(v, resource)));
      }
    }
    for (const v of variants) {
      rates.get(v)!.push(WRITE_CREATES / (ms.get(v)! / 1000));
      ratios.get(v)!.push(ms.get('without indexing')! / ms.get(v)!);
    }
  }
  return {
    rates: new Map(variants.map((v) => [v, median(rates.get(v)!)])),
    ratios: new Map(variants.map((v) => [v, { median: median(ratios.get(v)!), min: Math.min(...ratios.get(v)!), max: Math.max(...ratios.get(v)!) }])),
  };
}

interface HttpWriteRates {
  /** median creates/s with and without indexing */
  indexed: number;
  unindexed: number;
  /** each run's creates/s with indexing over the mean of the runs without just before and after it */
  ratios: number[];
}

/**
 * Create throughput over HTTP, as clients see it: the product's server with its search indexing and the same
 * server whose store extracts nothing (bench/support/fhir-server.ts, both run from that one entry), on the loaded
 * database, WRITE_HTTP_CONNECTIONS connections posting the Synthea Patients and Encounters. The two run in strict
 * alternation (support/alternate.ts), each run with indexing compared with the runs without just before and after.
 */
async function measureHttpWrites(databaseUrl: string, children: ChildProcess[]): Promise<HttpWriteRates> {
  const sample = syntheaTemplate().resources.filter((r) => r.resourceType === 'Patient' || r.resourceType === 'Encounter').slice(0, WRITE_SAMPLE);
  const bodies = sample.map((r) => ({ path: `/fhir/${r.resourceType}`, body: JSON.stringify({ ...r, id: undefined }) }));
  const servers = [
    { name: 'indexed', port: INDEXED_PORT, indexing: 'on' },
    { name: 'unindexed', port: UNINDEXED_PORT, indexing: 'off' },
  ] as const;
  const auth = new Map<string, Record<string, string>>();
  for (const server of servers) {
    const env = {
      DATABASE_URL: databaseUrl,
      DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
      BOOTSTRAP_CLIENT_ID: CLIENT_ID,
      BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
      PUBLIC_BASE_URL: `http://127.0.0.1:${server.port}`,
      BENCH_INDEXING: server.indexing,
    };
    children.push(await startProcess('bench/support/fhir-server.ts', env, server.port));
    auth.set(server.name, await clientAuthorization(`http://127.0.0.1:${server.port}`, CLIENT_ID, CLIENT_SECRET));
  }
  const run = async (server: (typeof servers)[number], seconds: number): Promise<number> => {
    let i = 0;
    const result = await autocannon({
      url: `http://127.0.0.1:${server.port}`,
      duration: seconds,
      connections: WRITE_HTTP_CONNECTIONS,
      headers: { 'content-type': 'application/fhir+json', ...auth.get(server.name)! },
      requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...bodies[i++ % bodies.length] }) }],
    } as autocannon.Options);
    if (result.non2xx + result.errors > 0) throw new Error(`${server.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.requests.average;
  };
  for (const server of servers) await run(server, 3); // warm-up
  const [indexed, unindexed] = servers;
  const runs = await alternate(() => run(unindexed, HTTP_SECONDS), () => run(indexed, HTTP_SECONDS), WRITE_HTTP_ROUNDS, (r) => r);
  return { indexed: median(runs.b), unindexed: median(runs.a), ratios: runs.ratios };
}

// ------------------------------------------------------------------------------------------------- main

async function main() {
  buildServer();
  const database = await freshDatabase('bench_search');
  const db = new PostgresDatabase(database.url);
  const children: ChildProcess[] = [];
  try {
    await migrate(db);
    const data = await load(db);
    const cases = searchCases(data);
    for (const list of cases.values()) await checkSameAnswers(db, list);

    log('searching in-process');
    const direct = new Map<SearchCaseName, Awaited<ReturnType<typeof measureDirect>>>();
    for (const [name, list] of cases) direct.set(name, await measureDirect(db, list));
    if (process.env.BENCH_EXPLAIN) for (const list of cases.values()) await explain(db, list[0]);

    log('searching over HTTP');
    children.push(
      await startProcess(
        'dist/src/main.js',
        {
          DATABASE_URL: database.url,
          DEMO_DATA: 'false',
          LOG_LEVEL: 'warn',
          BOOTSTRAP_CLIENT_ID: CLIENT_ID,
          BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
          PUBLIC_BASE_URL: `http://127.0.0.1:${FHIR_PORT}`,
        },
        FHIR_PORT,
      ),
    );
    children.push(await startProcess('bench/support/search-baseline-server.ts', { DATABASE_URL: database.url, BENCH_ORG_ID: DEFAULT_ORG_ID }, BASE_PORT));
    const fhirBase = `http://127.0.0.1:${FHIR_PORT}`;
    const auth = await clientAuthorization(fhirBase, CLIENT_ID, CLIENT_SECRET);
    const http = new Map<string, { sql: HttpResult; fhir: HttpResult }>();
    for (const connections of HTTP_LOADS) {
      for (const [name, list] of cases) {
        const sql = await measureHttp(`http://127.0.0.1:${BASE_PORT}`, list.map((c) => c.baselinePath), {}, connections);
        const fhir = await measureHttp(fhirBase, list.map(fhirPath), auth, connections);
        http.set(`${name}|${connections}`, { sql, fhir });
      }
    }
    for (const c of children.splice(0)) await stopProcess(c);

    log('creating over HTTP, with and without indexing');
    const httpWrites = await measureHttpWrites(database.url, children);
    for (const c of children.splice(0)) await stopProcess(c);

    log('creating through the repository');
    const writes = await measureWrites(db);

    const [l1, l5, l15] = os.loadavg().map((l) => l.toFixed(1));
    console.log(`\n## Search benchmark — ${data.resources.toLocaleString('en')} resources on PostgreSQL`);
    console.log(
      `\n${COPIES} copies of the Synthea fixtures and ${(PRACTITIONERS * SLOTS_PER_DAY * DAYS).toLocaleString('en')} Appointments ` +
        `(${PRACTITIONERS} practitioners × ${DAYS} days × ${SLOTS_PER_DAY}), loaded in ${data.seconds.toFixed(0)} s. ` +
        `${os.cpus().length} CPUs, load average ${l1} / ${l5} / ${l15} at the end.`,
    );
    console.log(`\n### In-process: one client, ${SAMPLES} searches each, SQL and FHIR interleaved (ms)\n`);
    console.log(
      markdownTable(
        ['search', 'SQL p50', 'SQL p99', 'FHIR engine p50', 'FHIR engine p99', 'entries', 'target p50 < 10, p99 < 50'],
        CASES.map((name) => {
          const d = direct.get(name)!;
          const s = latency(d.sql);
          const f = latency(d.fhir);
          return [name, ms(s.p50), ms(s.p99), ms(f.p50), ms(f.p99), d.matches.toFixed(1), verdict(f.p50, f.p99)];
        }),
      ),
    );
    console.log(
      `\n### Over HTTP: the server process (dist/src/main.js: authentication, audit, Bundle) and a bare Fastify + pg server ` +
        `with the same SQL as baseline; autocannon, ${HTTP_SECONDS} s each (ms)\n`,
    );
    console.log(
      markdownTable(
        ['search', 'connections', 'SQL req/s', 'SQL p50 / p99', 'FHIR req/s', 'FHIR p50 / p99', 'errors', 'target p50 < 10, p99 < 50'],
        HTTP_LOADS.flatMap((connections) =>
          CASES.map((name) => {
            const { sql, fhir } = http.get(`${name}|${connections}`)!;
            return [name, connections, sql.rps, `${sql.p50} / ${sql.p99}`, fhir.rps, `${fhir.p50} / ${fhir.p99}`, sql.errors + fhir.errors, verdict(fhir.p50, fhir.p99)];
          }),
        ),
      ),
    );
    // One decimal: a median of 79.6% must not read as 80% beside "NOT met".
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    const httpRatio = median(httpWrites.ratios);
    console.log(
      `\n### Creates over HTTP: the server with its search indexing and the same server without, ${WRITE_HTTP_CONNECTIONS} connections, ` +
        `${WRITE_HTTP_ROUNDS} runs with indexing between ${WRITE_HTTP_ROUNDS + 1} without, ${HTTP_SECONDS} s each, strictly alternating\n`,
    );
    console.log(
      markdownTable(
        ['creates/s with indexing (median)', 'creates/s without (median)', 'with / without: median (each run with indexing)', 'target ≥ 80%'],
        [[httpWrites.indexed.toFixed(0), httpWrites.unindexed.toFixed(0), `${pct(httpRatio)} (${httpWrites.ratios.map(pct).join(', ')})`, httpRatio >= TARGET_WRITE_RATIO ? 'met' : 'NOT met']],
      ),
    );
    console.log(
      `\n### Creates through the repository: one client, ${WRITE_ROUNDS} rounds of ${WRITE_CREATES} creates per variant ` +
        `(${WRITE_SAMPLE} Synthea Patients/Encounters), the variants taking turns create by create\n`,
    );
    console.log(
      markdownTable(
        ['variant', 'creates/s (median)', 'vs without indexing in the same round: median (lowest–highest round)', 'target ≥ 80%'],
        [...writes.rates].map(([variant, r]) => {
          const ratio = writes.ratios.get(variant)!;
          return [
            variant,
            r.toFixed(0),
            `${pct(ratio.median)} (${pct(ratio.min)}–${pct(ratio.max)})`,
            variant === 'with indexing, one statement' ? (ratio.median >= TARGET_WRITE_RATIO ? 'met' : 'NOT met') : '–',
          ];
        }),
      ),
    );
  } finally {
    for (const c of children) await stopProcess(c);
    await db.close();
    if (process.env.BENCH_KEEP_DATABASE) log(`database kept: ${database.url}`);
    else await database.drop();
  }
}

await main();
