/**
 * Bulk export throughput and memory on PostgreSQL (npm run bench:export, or `npx tsx bench/export.ts`).
 *
 * Loads BENCH_EXPORT_RESOURCES resources (default 500,000) straight into a fresh database — rows shaped as
 * the repository writes them (current row with its token and reference index arrays, plus the history row),
 * in multi-row INSERTs, because the bench measures exporting, not loading — then starts the product as its
 * own process — built and started as `npm start` runs it (`node dist/src/main.js`), so what is measured is the
 * product's memory, not tsx's — exports them with a backend-services token ($export → poll → manifest), and
 * compares with PostgreSQL's own `COPY (SELECT resource_data …) TO STDOUT` of the same rows into a file, in the
 * same run. The server's peak RSS is its VmHWM from /proc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Condition, Encounter, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { PostgresDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { withServerMeta } from '../src/fhir/repository/meta.js';
import { extractIndexes } from '../src/fhir/search/index.js';
import { DEFAULT_ORG_ID } from '../src/tenancy.js';
import { freshDatabase, markdownTable, startProcess, stopProcess } from './support/servers.js';

const TOTAL = Number(process.env.BENCH_EXPORT_RESOURCES ?? 500_000);
const PORT = Number(process.env.BENCH_PORT ?? 18_093);
const BATCH = 1000;
const TYPES = ['Patient', 'Encounter', 'Condition', 'Observation'];
const CLIENT_ID = 'bench-export-client';
// Fixed, so a kept bench database (BENCH_EXPORT_DATABASE_URL) keeps working: it only ever holds generated data.
const CLIENT_SECRET = 'bench-export-client-secret-not-for-production';

/** One resource of the mix (per 100: 2 patients, 18 encounters, 10 conditions, 70 observations). */
function resourceAt(i: number): Resource {
  const patient = `bench-patient-${Math.floor(i / 50)}`;
  const slot = i % 100;
  const day = new Date(Date.UTC(2015, 0, 1) + (i % 3000) * 86_400_000).toISOString();
  if (slot < 2) {
    return {
      resourceType: 'Patient',
      id: `bench-patient-${Math.floor(i / 50)}${slot === 0 ? '' : '-b'}`,
      identifier: [{ system: 'https://bench.example/mrn', value: `MRN-${i}` }],
      name: [{ use: 'official', family: `Family${i % 997}`, given: [`Given${i % 991}`] }],
      gender: i % 2 ? 'female' : 'male',
      birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 9}`,
      address: [{ line: [`${i % 400} Main Street`], city: 'Springfield', postalCode: `0${i % 9999}`, country: 'US' }],
    } satisfies Patient;
  }
  if (slot < 20) {
    return {
      resourceType: 'Encounter',
      id: `bench-enc-${i}`,
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [{ coding: [{ system: 'http://snomed.info/sct', code: '185349003', display: 'Encounter for check up' }], text: 'Check up' }],
      subject: { reference: `Patient/${patient}` },
      period: { start: day, end: day },
      serviceProvider: { reference: 'Organization/bench-org', display: 'Bench Clinic' },
    } satisfies Encounter;
  }
  if (slot < 30) {
    return {
      resourceType: 'Condition',
      id: `bench-cond-${i}`,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: i % 3 ? 'active' : 'resolved' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }],
      code: { coding: [{ system: 'http://snomed.info/sct', code: String(40_000_000 + (i % 5000)), display: 'Condition of the bench' }], text: 'Condition of the bench' },
      subject: { reference: `Patient/${patient}` },
      encounter: { reference: `Encounter/bench-enc-${i - (i % 100) + 2}` },
      onsetDateTime: day,
      recordedDate: day,
    } satisfies Condition;
  }
  return {
    resourceType: 'Observation',
    id: `bench-obs-${i}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
    subject: { reference: `Patient/${patient}` },
    encounter: { reference: `Encounter/bench-enc-${i - (i % 100) + 2}` },
    effectiveDateTime: day,
    issued: day,
    valueQuantity: { value: 50 + (i % 70), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  } satisfies Observation;
}

async function load(db: PostgresDatabase): Promise<number> {
  const started = Date.now();
  const lastUpdated = new Date(Date.now() - 60_000).toISOString();
  for (let from = 0; from < TOTAL; from += BATCH) {
    const rows = [];
    for (let i = from; i < Math.min(TOTAL, from + BATCH); i++) {
      const stored = withServerMeta(resourceAt(i), resourceAt(i).id as string, 1, lastUpdated);
      const indexes = extractIndexes(stored);
      rows.push({ stored, json: JSON.stringify(stored), indexes });
    }
    await db.query(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(type, id, hash, data, tokens, refs)),
       cur AS (
         INSERT INTO fhir_resources
           (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs,
            token_hashes, ref_hashes, index_version)
         SELECT type, id, $7, 1, $8::timestamptz, $8::timestamptz, false, hash, data::jsonb, k.tokens, k.refs,
                fhir_token_index_hashes(k.tokens), fhir_key_hashes(k.refs), 1
         FROM input,
              LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(input.tokens::jsonb)) AS tokens,
                              ARRAY(SELECT jsonb_array_elements_text(input.refs::jsonb)) AS refs) k
         RETURNING resource_type, id, org_id, last_updated, resource_data)
       INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
       SELECT resource_type, id, 1, org_id, last_updated, false, resource_data FROM cur`,
      [
        rows.map((r) => r.stored.resourceType),
        rows.map((r) => r.stored.id),
        rows.map((r) => createHash('sha256').update(r.json).digest('base64url')),
        rows.map((r) => r.json),
        rows.map((r) => JSON.stringify(r.indexes.tokens)),
        rows.map((r) => JSON.stringify(r.indexes.refs)),
        DEFAULT_ORG_ID,
        lastUpdated,
      ],
    );
    if ((from / BATCH) % 50 === 0) process.stderr.write(`\rloaded ${from + rows.length} / ${TOTAL}`);
  }
  await db.query('ANALYZE fhir_resources');
  process.stderr.write('\n');
  return (Date.now() - started) / 1000;
}

/** PostgreSQL's own COPY of the same rows, through psql into a file: the fastest the data leaves the database. */
async function copyBaseline(url: string, file: string): Promise<{ seconds: number; bytes: number }> {
  const sql = `COPY (SELECT resource_data FROM fhir_resources WHERE org_id = '${DEFAULT_ORG_ID}' AND resource_type IN (${TYPES.map((t) => `'${t}'`).join(', ')}) AND NOT deleted) TO STDOUT`;
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file);
    const psql = spawn('psql', [url, '-X', '-q', '-c', sql], { stdio: ['ignore', 'pipe', 'inherit'] });
    psql.stdout.pipe(out);
    psql.on('error', reject);
    out.on('finish', () => (psql.exitCode === 0 || psql.exitCode === null ? resolve() : reject(new Error(`psql exited ${psql.exitCode}`))));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, bytes: (await stat(file)).size };
}

async function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build:server'], { stdio: 'inherit' });
  // BENCH_EXPORT_DATABASE_URL: a database to keep between runs (loaded on first use, never dropped).
  const kept = process.env.BENCH_EXPORT_DATABASE_URL;
  const database = kept ? { url: kept, drop: async () => undefined } : await freshDatabase('bench_export');
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-export-'));
  const db = new PostgresDatabase(database.url, 4);
  let server: Awaited<ReturnType<typeof startProcess>> | undefined;
  try {
    await migrate(db);
    const present = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM fhir_resources WHERE resource_type = ANY($1)`, [TYPES])).rows[0].n);
    const loadSeconds = present >= TOTAL ? 0 : await load(db);
    const base = `http://127.0.0.1:${PORT}`;
    server = await startProcess(
      'dist/src/main.js',
      {
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        PUBLIC_BASE_URL: base,
        DEMO_DATA: 'false',
        LOG_LEVEL: 'warn',
        BOOTSTRAP_CLIENT_ID: CLIENT_ID,
        BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
      },
      PORT,
    );
    const pid = server.pid as number;

    const tokenRes = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=system/*.rs',
    });
    if (!tokenRes.ok) throw new Error(`token: ${tokenRes.status} ${await tokenRes.text()}`);
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const auth = { authorization: `Bearer ${token}` };

    // Warm both paths' caches alike: one COPY before anything is measured.
    await copyBaseline(database.url, join(dataDir, 'copy-warmup.txt'));
    const rssBefore = await procStatus(pid, 'VmRSS');
    const hwmBefore = await procStatus(pid, 'VmHWM');

    let peakDuringExport = rssBefore;
    const sampler = setInterval(() => {
      procStatus(pid, 'VmRSS')
        .then((rss) => (peakDuringExport = Math.max(peakDuringExport, rss)))
        .catch(() => undefined);
    }, 50);
    const started = process.hrtime.bigint();
    const kick = await fetch(`${base}/fhir/$export?_type=${TYPES.join(',')}`, {
      headers: { ...auth, accept: 'application/fhir+json', prefer: 'respond-async' },
    });
    if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
    const statusUrl = kick.headers.get('content-location') as string;
    let manifest: { output: { type: string; url: string; count: number }[] } | undefined;
    while (!manifest) {
      const res = await fetch(statusUrl, { headers: auth });
      if (res.status === 200) manifest = (await res.json()) as typeof manifest;
      else if (res.status !== 202) throw new Error(`status: ${res.status} ${await res.text()}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    const exportSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sampler);
    const peakRss = await procStatus(pid, 'VmHWM');
    const exported = manifest.output.reduce((n, o) => n + o.count, 0);
    const jobDir = join(dataDir, 'exports', statusUrl.split('/').pop() as string);
    let exportBytes = 0;
    for (const file of manifest.output) {
      const res = await fetch(file.url, { method: 'GET', headers: auth });
      const body = Buffer.from(await res.arrayBuffer());
      exportBytes += body.length;
    }
    await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);

    const copy = await copyBaseline(database.url, join(dataDir, 'copy.txt'));
    const copyRate = TOTAL / copy.seconds;
    const exportRate = exported / exportSeconds;
    const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
    const rate = (n: number) => Math.round(n).toLocaleString('en-US');

    console.log(`\n## Bulk export, ${TOTAL.toLocaleString('en-US')} resources (${TYPES.join(', ')}) on PostgreSQL\n`);
    console.log(`Loaded in ${loadSeconds.toFixed(1)} s (not measured below). Server: \`node dist/src/main.js\` (as \`npm start\` runs it) as its own process, default settings.\n`);
    console.log(
      markdownTable(
        ['path', 'resources', 'seconds', 'resources/s', 'MB written', 'vs COPY', 'server RSS before', 'server peak RSS during export', 'server VmHWM (since start)'],
        [
          ['PostgreSQL `COPY (SELECT resource_data …) TO STDOUT` → file (psql)', TOTAL, copy.seconds.toFixed(2), rate(copyRate), mb(copy.bytes), '100%', '—', '—', '—'],
          [
            '`$export` kick-off → manifest (NDJSON files written)',
            exported,
            exportSeconds.toFixed(2),
            rate(exportRate),
            mb(exportBytes),
            `${Math.round((exportRate / copyRate) * 100)}%`,
            `${mb(rssBefore)} MB`,
            `${mb(peakDuringExport)} MB`,
            `${mb(hwmBefore)} → ${mb(peakRss)} MB`,
          ],
        ],
      ),
    );
    console.log(`\nTargets: ≥ 60% of COPY throughput, peak RSS < 250 MB. Files: ${manifest.output.length}. RSS sampled every 50 ms from /proc.`);
  } finally {
    if (server) await stopProcess(server);
    await db.close();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
