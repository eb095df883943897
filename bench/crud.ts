/**
 * npm run bench:crud — create, read and update Patients over HTTP on real PostgreSQL (the server built and
 * started as `npm start` runs it), side by side with a bare
 * Fastify + pg server doing the same SQL (bench/support/baseline-server.ts). Targets: read ≥ 75% and create
 * ≥ 70% of the baseline's throughput.
 */
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { clientAuthorization } from './support/client-token.js';
import { samplePatient } from './support/fixtures.js';
import { buildServer, freshDatabase, markdownTable, startProcess, stopProcess } from './support/servers.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const FHIR_PORT = 18401;
const BASE_PORT = 18402;
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-secret-0123456789abcdef0123456789';

interface Phase {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function run(url: string, opts: Partial<autocannon.Options>, onBody?: (body: string) => void): Promise<Phase> {
  const result = await autocannon({
    url,
    duration: DURATION,
    connections: CONNECTIONS,
    ...opts,
    ...(onBody
      ? { requests: [{ ...(opts.requests?.[0] ?? {}), onResponse: (_status: number, body: string) => onBody(body) }] as autocannon.Request[] }
      : {}),
  } as autocannon.Options);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
  };
}

async function measure(name: string, base: string, auth: Record<string, string>): Promise<Record<string, Phase>> {
  const headers = { 'content-type': 'application/fhir+json', ...auth };
  const ids: string[] = [];
  let n = 0;
  const create = await run(
    `${base}/fhir/Patient`,
    { method: 'POST', headers, requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, body: JSON.stringify(samplePatient(n++)) }) }] },
    (body) => {
      try {
        ids.push((JSON.parse(body) as { id: string }).id);
      } catch {
        // a failed request; counted as an error by autocannon
      }
    },
  );
  const pick = () => ids[Math.floor(Math.random() * ids.length)];
  const read = await run(`${base}/fhir/Patient`, {
    headers: auth,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/fhir/Patient/${pick()}` }) }],
  });
  let m = 0;
  const update = await run(`${base}/fhir/Patient`, {
    headers,
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => {
          const id = pick();
          return { ...req, path: `/fhir/Patient/${id}`, body: JSON.stringify({ ...samplePatient(m++), id }) };
        },
      },
    ],
  });
  process.stderr.write(`${name}: created ${ids.length}\n`);
  return { create, read, update };
}

async function main() {
  buildServer();
  const fhirDb = await freshDatabase('bench_fhir');
  const baseDb = await freshDatabase('bench_base');
  const children: ChildProcess[] = [];
  try {
    children.push(
      await startProcess('dist/src/main.js', {
        DATABASE_URL: fhirDb.url,
        DEMO_DATA: 'false',
        LOG_LEVEL: 'warn',
        BOOTSTRAP_CLIENT_ID: CLIENT_ID,
        BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
        PUBLIC_BASE_URL: `http://127.0.0.1:${FHIR_PORT}`,
      }, FHIR_PORT),
    );
    children.push(await startProcess('bench/support/baseline-server.ts', { DATABASE_URL: baseDb.url }, BASE_PORT));
    const fhirBase = `http://127.0.0.1:${FHIR_PORT}`;
    const baseline = await measure('baseline', `http://127.0.0.1:${BASE_PORT}`, {});
    const fhir = await measure('fhir', fhirBase, await clientAuthorization(fhirBase, CLIENT_ID, CLIENT_SECRET));
    const targets: Record<string, number> = { create: 0.7, read: 0.75, update: 0 };
    const rows = (['create', 'read', 'update'] as const).map((op) => {
      const ratio = fhir[op].rps / baseline[op].rps;
      return [
        op,
        baseline[op].rps,
        fhir[op].rps,
        `${Math.round(ratio * 100)}%`,
        targets[op] ? `≥ ${targets[op] * 100}% ${ratio >= targets[op] ? 'met' : 'NOT met'}` : '–',
        `${baseline[op].p50} / ${baseline[op].p99}`,
        `${fhir[op].p50} / ${fhir[op].p99}`,
        fhir[op].errors + baseline[op].errors,
      ];
    });
    console.log(`\nCRUD on PostgreSQL, ${CONNECTIONS} connections, ${DURATION} s per phase\n`);
    console.log(
      markdownTable(['operation', 'baseline req/s', 'FHIR req/s', 'FHIR / baseline', 'target', 'baseline p50/p99 ms', 'FHIR p50/p99 ms', 'errors'], rows),
    );
  } finally {
    for (const c of children) await stopProcess(c);
    await fhirDb.drop();
    await baseDb.drop();
  }
}

await main();
