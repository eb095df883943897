import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { Resource } from '@medplum/fhirtypes';
import type { Database } from '../../src/db/database.js';
import type { ExportAudit } from '../../src/export/audit.js';
import { LocalDiskExportStorage } from '../../src/export/storage.js';
import { ExportWorker, type WorkerSettings } from '../../src/export/worker.js';

export const BASE = 'http://fhir.test';
export const KICKOFF_HEADERS = { accept: 'application/fhir+json', prefer: 'respond-async' };

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: unknown[];
}

export const workerSettings = (over: Partial<WorkerSettings> = {}): WorkerSettings => ({
  fileMaxBytes: 1024 * 1024,
  retentionSeconds: 3600,
  workerConcurrency: 1,
  pageSize: 200,
  pagePauseMs: 0,
  leaseSeconds: 3,
  ...over,
});

/** A worker like the server's, over the test server's database and export folder. */
export function testWorker(db: Database, dataDir: string, over: Partial<WorkerSettings> = {}, id?: string, audit?: ExportAudit): ExportWorker {
  return new ExportWorker({
    audit,
    db,
    storage: new LocalDiskExportStorage(`${dataDir}/exports`),
    settings: workerSettings(over),
    baseUrl: `${BASE}/fhir`,
    id,
    pollIntervalMs: 50,
    checkpointIntervalMs: 0,
    sweepIntervalMs: 200,
  });
}

/** Starts an export; returns the status URL's path. */
export async function kickOff(app: FastifyInstance, url: string, opts: { authorization?: string; method?: 'GET' | 'POST'; body?: unknown } = {}): Promise<string> {
  const res = await app.inject({
    method: opts.method ?? 'GET',
    url,
    headers: { ...KICKOFF_HEADERS, ...(opts.authorization ? { authorization: opts.authorization } : {}), ...(opts.body ? { 'content-type': 'application/fhir+json' } : {}) },
    ...(opts.body ? { payload: JSON.stringify(opts.body) } : {}),
  });
  if (res.statusCode !== 202) throw new Error(`kick-off ${url} answered ${res.statusCode}: ${res.body}`);
  return pathOf(res.headers['content-location'] as string);
}

export const pathOf = (url: string) => url.replace(BASE, '');

export async function waitForManifest(app: FastifyInstance, statusPath: string, authorization?: string, timeoutMs = 60_000): Promise<Manifest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: statusPath, headers: authorization ? { authorization } : {} });
    if (res.statusCode === 200) return res.json() as Manifest;
    if (res.statusCode !== 202) throw new Error(`status answered ${res.statusCode}: ${res.body}`);
    if (Date.now() > deadline) throw new Error(`export not done in time: ${res.headers['x-progress']}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file of the manifest, parsed, with the type the manifest gives each line. */
export async function downloadAll(app: FastifyInstance, manifest: Manifest, opts: { authorization?: string; gzip?: boolean } = {}): Promise<{ type: string; resource: Resource }[]> {
  const all: { type: string; resource: Resource }[] = [];
  for (const file of manifest.output) {
    const res = await app.inject({
      method: 'GET',
      url: pathOf(file.url),
      headers: { ...(opts.authorization ? { authorization: opts.authorization } : {}), ...(opts.gzip ? { 'accept-encoding': 'gzip' } : {}) },
    });
    if (res.statusCode !== 200) throw new Error(`file ${file.url} answered ${res.statusCode}: ${res.body}`);
    if (!String(res.headers['content-type']).startsWith('application/fhir+ndjson')) throw new Error(`file content type ${res.headers['content-type']}`);
    const text = opts.gzip ? gunzipSync(res.rawPayload).toString('utf8') : res.body;
    const lines = text.split('\n');
    if (lines.pop() !== '') throw new Error('an NDJSON file ends with a newline');
    if (lines.length !== file.count) throw new Error(`${file.url}: ${lines.length} lines, manifest says ${file.count}`);
    for (const line of lines) all.push({ type: file.type, resource: JSON.parse(line) as Resource });
  }
  return all;
}

/** The current, not deleted rows of the org as of a time, keyed `Type/id`. */
export async function storedResources(db: Database, orgId: string, asOf: string, types?: string[]): Promise<Map<string, Resource>> {
  const r = await db.query<{ resource_type: string; id: string; resource_data: Resource }>(
    `SELECT resource_type, id, resource_data FROM fhir_resources
     WHERE org_id = $1 AND NOT deleted AND last_updated <= $2::timestamptz AND ($3::text[] IS NULL OR resource_type = ANY($3::text[]))`,
    [orgId, asOf, types ?? null],
  );
  return new Map(r.rows.map((row) => [`${row.resource_type}/${row.id}`, row.resource_data]));
}

/** Each exported resource exactly once, under its own type, and identical to what is stored. */
export function expectExactlyStored(exported: { type: string; resource: Resource }[], stored: Map<string, Resource>): void {
  const seen = new Set<string>();
  for (const { type, resource } of exported) {
    const key = `${resource.resourceType}/${resource.id}`;
    if (type !== resource.resourceType) throw new Error(`${key} in a ${type} file`);
    if (seen.has(key)) throw new Error(`${key} exported twice`);
    seen.add(key);
    const expected = stored.get(key);
    if (!expected) throw new Error(`${key} exported but not stored`);
    if (JSON.stringify(sortKeys(expected)) !== JSON.stringify(sortKeys(resource))) throw new Error(`${key} differs from what is stored`);
  }
  const missing = [...stored.keys()].filter((k) => !seen.has(k));
  if (missing.length > 0) throw new Error(`${missing.length} stored resources not exported, e.g. ${missing.slice(0, 3).join(', ')}`);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
