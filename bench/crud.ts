/**
 * npm run bench:crud — create, read and update Patients over HTTP on real PostgreSQL (the server built and
 * started as `npm start` runs it), side by side with a bare
 * Fastify + pg server doing the same SQL (bench/support/baseline-server.ts). Targets: read ≥ 75% and create
 * ≥ 70% of the baseline's throughput. Knobs: BENCH_SECONDS (per run), BENCH_ROUNDS, BENCH_CONNECTIONS.
 */
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { alternate, median } from './support/alternate.js';
import { clientAuthorization } from './support/client-token.js';
import { samplePatient } from './support/fixtures.js';
import { buildServer, freshDatabase, markdownTable, startProcess, stopProcess } from './support/servers.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const FHIR_PORT = 18401;
const BASE_PORT = 18402;
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-secret-0123456789abcdef0123456789';
const OPERATIONS = ['create', 'read', 'update'] as const;
type Operation = (typeof OPERATIONS)[number];

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

/** One server under test, with the ids it created (read and update pick from them). */
interface Target {
  name: string;
  base: string;
  auth: Record<string, string>;
  ids: string[];
  created: number;
}

async function measure(t: Target, op: Operation): Promise<Phase> {
  const headers = { 'content-type': 'application/fhir+json', ...t.auth };
  const pick = () => t.ids[Math.floor(Math.random() * t.ids.length)];
  switch (op) {
    case 'create':
      return run(
        `${t.base}/fhir/Patient`,
        { method: 'POST', headers, requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, body: JSON.stringify(samplePatient(t.created++)) }) }] },
        (body) => {
          try {
            t.ids.push((JSON.parse(body) as { id: string }).id);
          } catch {
            // a failed request; counted as an error by autocannon
          }
        },
      );
    case 'read':
      return run(`${t.base}/fhir/Patient`, {
        headers: t.auth,
        requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/fhir/Patient/${pick()}` }) }],
      });
    case 'update':
      return run(`${t.base}/fhir/Patient`, {
        headers,
        requests: [
          {
            method: 'PUT',
            setupRequest: (req) => {
              const id = pick();
              return { ...req, path: `/fhir/Patient/${id}`, body: JSON.stringify({ ...samplePatient(t.created++), id }) };
            },
          },
        ],
      });
  }
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
    const baseline: Target = { name: 'baseline', base: `http://127.0.0.1:${BASE_PORT}`, auth: {}, ids: [], created: 0 };
    const fhir: Target = { name: 'fhir', base: fhirBase, auth: await clientAuthorization(fhirBase, CLIENT_ID, CLIENT_SECRET), ids: [], created: 0 };
    // The machine is shared and its speed drifts: each operation runs the two servers in strict alternation,
    // baseline first and last, and each FHIR run is compared with the baseline runs just before and after it.
    const phases = new Map<string, Phase[]>();
    const ratios = new Map<Operation, number[]>();
    for (const op of OPERATIONS) {
      // Warm-up of each operation, not counted: the first requests of a code path compile it, prepare its
      // statements on every pooled connection and fill caches (the first read run came out 20–40% slower).
      for (const t of [baseline, fhir]) await measure(t, op);
      const runs = await alternate(
        () => measure(baseline, op),
        () => measure(fhir, op),
        ROUNDS,
        (p) => p.rps,
        (round, b, f, ratio) => process.stderr.write(`${op} round ${round + 1}: FHIR ${f.rps}/s, baseline after it ${b.rps}/s, ratio ${ratio.toFixed(2)}\n`),
      );
      phases.set(`baseline ${op}`, runs.a);
      phases.set(`fhir ${op}`, runs.b);
      ratios.set(op, runs.ratios);
    }
    const targets: Record<Operation, number> = { create: 0.7, read: 0.75, update: 0 };
    const summary = (name: string, op: Operation) => {
      const list = phases.get(`${name} ${op}`)!;
      return {
        rps: median(list.map((p) => p.rps)),
        latency: `${median(list.map((p) => p.p50))} / ${Math.max(...list.map((p) => p.p99))}`,
        errors: list.reduce((sum, p) => sum + p.errors, 0),
      };
    };
    const rows = OPERATIONS.map((op) => {
      const ratio = median(ratios.get(op)!);
      const b = summary('baseline', op);
      const f = summary('fhir', op);
      const each = ratios.get(op)!.map((r) => `${Math.round(r * 100)}%`).join(', ');
      return [
        op,
        b.rps,
        f.rps,
        `${Math.round(ratio * 100)}% (${each})`,
        targets[op] ? `≥ ${targets[op] * 100}% ${ratio >= targets[op] ? 'met' : 'NOT met'}` : '–',
        b.latency,
        f.latency,
        b.errors + f.errors,
      ];
    });
    console.log(`\nCRUD on PostgreSQL, ${CONNECTIONS} connections, ${DURATION} s per run; per operation ${ROUNDS} FHIR runs between ${ROUNDS + 1} baseline runs, strictly alternating\n`);
    console.log(
      markdownTable(
        ['operation', 'baseline req/s (median)', 'FHIR req/s (median)', 'FHIR / baseline: median (each round)', 'target', 'baseline p50 / worst p99 ms', 'FHIR p50 / worst p99 ms', 'errors'],
        rows,
      ),
    );
  } finally {
    for (const c of children) await stopProcess(c);
    await fhirDb.drop();
    await baseDb.drop();
  }
}

await main();
