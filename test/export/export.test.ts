import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, Condition, Encounter, Group, Patient } from '@medplum/fhirtypes';
import { AuditBatchWriter } from '../../src/audit/batch-writer.js';
import { exportAudit } from '../../src/export/audit.js';
import { extractIndexes, writeIndexRows } from '../../src/fhir/search/index.js';
import { importNdjsonFolder } from '../../src/fhir/import/ndjson-import.js';
import type { FhirRepository } from '../../src/fhir/repository/repository.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';
import { createTestServer, type TestServer } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import {
  BASE,
  downloadAll,
  expectExactlyStored,
  KICKOFF_HEADERS,
  kickOff,
  pathOf,
  storedResources,
  testWorker,
  waitFor,
  waitForManifest,
} from './support.js';

const FIXTURES = '/work/shared/fixtures/synthea-10-patients';
const MAX_FILE_BYTES = 256 * 1024;

/**
 * The story of a bulk export on the Synthea fixtures: a backend client kicks off, polls, downloads, and gets
 * every resource of its org exactly once, as stored — also when the export is cancelled, when its server stops
 * mid-way, and when several servers share the jobs. Jobs are run by workers the tests start and stop (the
 * server's own worker is switched off), over the same database and export folder.
 */
describe.each(testDatabaseKinds())('bulk export on %s', (kind) => {
  let server: TestServer;
  let dataDir: string;
  let repo: FhirRepository;
  let ownerToken: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'export-test-'));
    server = await createTestServer(kind, {
      DATA_DIR: dataDir,
      EXPORT_WORKER: 'false',
      EXPORT_MAX_CONCURRENT_PER_CLIENT: '2',
      EXPORT_FILE_MAX_BYTES: String(MAX_FILE_BYTES),
    });
    repo = server.store.repository({ orgId: DEFAULT_ORG_ID, baseUrl: `${BASE}/fhir` });
    const summary = await importNdjsonFolder({ repo, folder: FIXTURES, batchSize: 500 });
    expect(summary.rejected).toEqual([]);
    ownerToken = server.defaultAuthorization;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Runs the queued jobs with a fresh worker until this one is done. */
  async function runToManifest(statusPath: string, authorization = ownerToken) {
    const worker = testWorker(server.db, dataDir);
    worker.start();
    try {
      return await waitForManifest(server.app, statusPath, authorization);
    } finally {
      await worker.stop();
    }
  }

  it('refuses a kick-off without Prefer: respond-async or Accept: application/fhir+json', async () => {
    for (const headers of [{ accept: 'application/fhir+json' }, { prefer: 'respond-async' }, { accept: 'application/json', prefer: 'respond-async' }]) {
      const res = await server.app.inject({ method: 'GET', url: '/fhir/$export', headers });
      expect(res.statusCode).toBe(400);
      expect(res.json().resourceType).toBe('OperationOutcome');
    }
    const badParam = await server.app.inject({ method: 'GET', url: '/fhir/$export?_outputFormat=text/csv', headers: KICKOFF_HEADERS });
    expect(badParam.statusCode).toBe(400);
    expect(badParam.json().issue[0].expression).toEqual(['_outputFormat']);
    const badSince = await server.app.inject({ method: 'GET', url: '/fhir/$export?_since=yesterday', headers: KICKOFF_HEADERS });
    expect(badSince.statusCode).toBe(400);
    const badFilter = await server.app.inject({ method: 'GET', url: `/fhir/$export?_type=Condition&_typeFilter=${encodeURIComponent('Condition?nonsense=1')}`, headers: KICKOFF_HEADERS });
    expect(badFilter.statusCode).toBe(400);
    const unknown = await server.app.inject({ method: 'GET', url: '/fhir/$export?_elements=id', headers: KICKOFF_HEADERS });
    expect(unknown.statusCode).toBe(400);
    const lenient = await server.app.inject({
      method: 'GET',
      url: '/fhir/$export?_type=Patient&_elements=id',
      headers: { ...KICKOFF_HEADERS, prefer: 'respond-async, handling=lenient' },
    });
    expect(lenient.statusCode).toBe(202);
    await server.app.inject({ method: 'DELETE', url: pathOf(lenient.headers['content-location'] as string) });
  });

  it('exports everything of the org, each resource exactly once and as stored, in files split at the configured size', async () => {
    const statusPath = await kickOff(server.app, '/fhir/$export');
    const queued = await server.app.inject({ method: 'GET', url: statusPath });
    expect(queued.statusCode).toBe(202);
    expect(queued.headers['x-progress']).toBeTruthy();
    expect(queued.headers['retry-after']).toBeTruthy();

    const manifest = await runToManifest(statusPath);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.request).toBe(`${BASE}/fhir/$export`);
    expect(manifest.error).toEqual([]);
    const exported = await downloadAll(server.app, manifest);

    // Audit events keep being written by the requests themselves; they are checked apart below.
    const stored = await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime);
    const audit = new Map([...stored].filter(([k]) => k.startsWith('AuditEvent/')));
    for (const k of audit.keys()) stored.delete(k);
    expectExactlyStored(exported.filter((e) => e.type !== 'AuditEvent'), stored);
    const exportedAudit = exported.filter((e) => e.type === 'AuditEvent');
    expect(new Set(exportedAudit.map((e) => e.resource.id)).size).toBe(exportedAudit.length);
    for (const e of exportedAudit) expect(audit.has(`AuditEvent/${e.resource.id}`)).toBe(true);

    expect(stored.size).toBeGreaterThan(7000);
    const encounterFiles = manifest.output.filter((o) => o.type === 'Encounter');
    expect(encounterFiles.length).toBeGreaterThan(1);
    const files = await readdir(join(dataDir, 'exports', statusPath.split('/').pop() as string));
    expect(files.length).toBe(manifest.output.length);

    // The same files compressed, for clients that accept gzip.
    const gz = await downloadAll(server.app, { ...manifest, output: manifest.output.filter((o) => o.type === 'Patient') }, { gzip: true });
    expect(gz.length).toBe(manifest.output.filter((o) => o.type === 'Patient').reduce((n, o) => n + o.count, 0));
  });

  it('exports the asked types only, by GET and by POST with a Parameters body', async () => {
    const viaGet = await runToManifest(await kickOff(server.app, '/fhir/$export?_type=Patient,Condition&_outputFormat=ndjson'));
    expect(new Set(viaGet.output.map((o) => o.type))).toEqual(new Set(['Patient', 'Condition']));
    const stored = await storedResources(server.db, DEFAULT_ORG_ID, viaGet.transactionTime, ['Patient', 'Condition']);
    expectExactlyStored(await downloadAll(server.app, viaGet), stored);

    const viaPost = await runToManifest(
      await kickOff(server.app, '/fhir/$export', {
        method: 'POST',
        body: {
          resourceType: 'Parameters',
          parameter: [
            { name: '_type', valueString: 'Immunization' },
            { name: '_outputFormat', valueString: 'application/fhir+ndjson' },
          ],
        },
      }),
    );
    expect(viaPost.request).toBe(`${BASE}/fhir/$export?_type=Immunization`);
    expectExactlyStored(await downloadAll(server.app, viaPost), await storedResources(server.db, DEFAULT_ORG_ID, viaPost.transactionTime, ['Immunization']));
  });

  it('exports what changed after _since, and versions as of transactionTime for what changes during the export', async () => {
    const [first, second, third] = (await repo.search<Patient>('Patient', { _count: '3', _sort: '_id' })).entry?.map((e) => e.resource as Patient) ?? [];
    await new Promise((r) => setTimeout(r, 5));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await repo.update<Patient>({ ...first, gender: first.gender === 'male' ? 'female' : 'male' });
    await repo.update<Patient>({ ...second, active: !second.active });

    const statusPath = await kickOff(server.app, `/fhir/$export?_type=Patient,Condition&_since=${encodeURIComponent(since)}`);
    // Written after the kick-off: not in this export; the first patient keeps its version as of transactionTime.
    const changedLater = await repo.update<Patient>({ ...third, active: !third.active });
    const firstNow = await repo.read<Patient>('Patient', first.id as string);
    await repo.update<Patient>({ ...firstNow, birthDate: '1901-01-01' });
    const manifest = await runToManifest(statusPath);
    const exported = await downloadAll(server.app, manifest);
    expect(exported.map((e) => e.resource.id).sort()).toEqual([first.id, second.id].sort());
    const exportedFirst = exported.find((e) => e.resource.id === first.id)?.resource as Patient;
    expect(exportedFirst.meta?.versionId).toBe(firstNow.meta?.versionId);
    expect(exportedFirst).toEqual(firstNow);
    expect(changedLater.resource.meta?.lastUpdated && changedLater.resource.meta.lastUpdated > manifest.transactionTime).toBe(true);
  });

  it('applies _typeFilter: only matching resources of that type, other types in full', async () => {
    const statusPath = await kickOff(server.app, `/fhir/$export?_type=Condition,Patient&_typeFilter=${encodeURIComponent('Condition?clinical-status=active')}`);
    const manifest = await runToManifest(statusPath);
    const exported = await downloadAll(server.app, manifest);
    const stored = await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime, ['Condition', 'Patient']);
    const expected = new Map(
      [...stored].filter(([, r]) => r.resourceType === 'Patient' || (r as Condition).clinicalStatus?.coding?.some((c) => c.code === 'active')),
    );
    expect(expected.size).toBeLessThan(stored.size);
    expectExactlyStored(exported, expected);
  });

  it('exports the Patient compartments: all patients, or the Patient members of a Group', async () => {
    // Practitioner is outside the Patient compartment: refused, unless the client asks for leniency.
    const url = '/fhir/Patient/$export?_type=Patient,Encounter,Practitioner';
    expect((await server.app.inject({ method: 'GET', url, headers: KICKOFF_HEADERS })).statusCode).toBe(400);
    const lenient = await server.app.inject({ method: 'GET', url, headers: { ...KICKOFF_HEADERS, prefer: 'respond-async; handling=lenient' } });
    expect(lenient.statusCode).toBe(202);
    const all = await runToManifest(pathOf(lenient.headers['content-location'] as string));
    expect(new Set(all.output.map((o) => o.type))).toEqual(new Set(['Patient', 'Encounter']));
    expectExactlyStored(await downloadAll(server.app, all), await storedResources(server.db, DEFAULT_ORG_ID, all.transactionTime, ['Patient', 'Encounter']));

    const patients = (await repo.search<Patient>('Patient', { _count: '2', _sort: '_id' })).entry?.map((e) => e.resource?.id as string) ?? [];
    const group = (
      await repo.create<Group>({
        resourceType: 'Group',
        type: 'person',
        actual: true,
        member: patients.map((id) => ({ entity: { reference: `Patient/${id}` } })),
      })
    ).resource;
    const manifest = await runToManifest(await kickOff(server.app, `/fhir/Group/${group.id}/$export?_type=Patient,Encounter`));
    const exported = await downloadAll(server.app, manifest);
    const stored = await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime, ['Patient', 'Encounter']);
    const expected = new Map(
      [...stored].filter(([, r]) =>
        r.resourceType === 'Patient' ? patients.includes(r.id as string) : patients.some((p) => (r as Encounter).subject?.reference === `Patient/${p}`),
      ),
    );
    expect(expected.size).toBeGreaterThan(2);
    expectExactlyStored(exported, expected);

    const missing = await server.app.inject({ method: 'GET', url: '/fhir/Group/no-such-group/$export', headers: KICKOFF_HEADERS });
    expect(missing.statusCode).toBe(404);
  });

  it('cancels mid-way: 202, then the status URL answers 404 and the files are gone', async () => {
    const statusPath = await kickOff(server.app, '/fhir/$export?_type=Procedure,MedicationRequest,Encounter');
    const jobId = statusPath.split('/').pop() as string;
    const worker = testWorker(server.db, dataDir, { pageSize: 25, pagePauseMs: 20 });
    worker.start();
    try {
      await waitFor(async () => (await server.db.query<{ n: string }>('SELECT exported AS n FROM export_jobs WHERE id = $1', [jobId])).rows[0].n !== '0', 30_000, 'progress');
      const cancel = await server.app.inject({ method: 'DELETE', url: statusPath });
      expect(cancel.statusCode).toBe(202);
      const after = await server.app.inject({ method: 'GET', url: statusPath });
      expect(after.statusCode).toBe(404);
      expect(after.json().resourceType).toBe('OperationOutcome');
      await waitFor(async () => worker.activeJobs.length === 0, 10_000, 'the worker to drop the job');
      await waitFor(async () => (await readdir(join(dataDir, 'exports')).catch(() => [])).every((d) => d !== jobId), 10_000, 'files removed');
      // The sweep removes the cancelled job altogether.
      await waitFor(async () => (await server.db.query('SELECT 1 FROM export_jobs WHERE id = $1', [jobId])).rowCount === 0, 10_000, 'sweep');
    } finally {
      await worker.stop();
    }
  });

  it('resumes after its server stops mid-export: exactly once, even with bytes written after the last checkpoint', async () => {
    const types = 'Procedure,MedicationRequest,DocumentReference';
    const statusPath = await kickOff(server.app, `/fhir/$export?_type=${types}`);
    const jobId = statusPath.split('/').pop() as string;
    const first = testWorker(server.db, dataDir, { pageSize: 50, pagePauseMs: 10 }, 'first');
    first.start();
    await waitFor(async () => {
      const r = await server.db.query<{ n: string }>('SELECT exported AS n FROM export_jobs WHERE id = $1', [jobId]);
      return Number(r.rows[0].n) > 1500;
    }, 60_000, 'progress');
    await first.stop();
    const stopped = await server.db.query<{ status: string; lease_owner: string | null }>('SELECT status, lease_owner FROM export_jobs WHERE id = $1', [jobId]);
    expect(stopped.rows[0]).toEqual({ status: 'running', lease_owner: null });

    // A server that dies does not get to checkpoint: what it wrote after its last checkpoint is on disk.
    const open = await server.db.query<{ part_key: string }>('SELECT part_key FROM export_job_types WHERE job_id = $1 AND part_key IS NOT NULL', [jobId]);
    for (const row of open.rows) await appendFile(join(dataDir, 'exports', row.part_key), '{"resourceType":"Procedure","id":"half-written"}\n{"resou');

    const manifest = await runToManifest(statusPath);
    const attempts = await server.db.query<{ attempt: number }>('SELECT attempt FROM export_jobs WHERE id = $1', [jobId]);
    expect(Number(attempts.rows[0].attempt)).toBe(2);
    expectExactlyStored(await downloadAll(server.app, manifest), await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime, types.split(',')));
  });

  it('takes over a job whose server died holding its lease, once the lease runs out', async () => {
    const statusPath = await kickOff(server.app, '/fhir/$export?_type=Condition');
    const jobId = statusPath.split('/').pop() as string;
    await server.db.query(
      `UPDATE export_jobs SET status = 'running', attempt = 1, lease_owner = 'dead-server', lease_expires_at = now() + interval '1 second' WHERE id = $1`,
      [jobId],
    );
    const manifest = await runToManifest(statusPath);
    expectExactlyStored(await downloadAll(server.app, manifest), await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime, ['Condition']));
  });

  it('shares jobs between two servers: each job runs on one of them, all complete exactly once', async () => {
    const clients = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (c) => `Bearer ${await server.auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: `shared-${c}`, scopes: ['system/*.rs'] })}`),
    );
    const types = ['Procedure', 'MedicationRequest', 'Encounter', 'DocumentReference'];
    const jobs = await Promise.all(clients.map((authorization, i) => kickOff(server.app, `/fhir/$export?_type=${types[i]}`, { authorization })));
    const one = testWorker(server.db, dataDir, { pageSize: 100, pagePauseMs: 5 }, 'one');
    const two = testWorker(server.db, dataDir, { pageSize: 100, pagePauseMs: 5 }, 'two');
    const owners = new Set<string>();
    const watch = setInterval(() => {
      if (one.activeJobs.length > 0) owners.add('one');
      if (two.activeJobs.length > 0) owners.add('two');
      if (one.activeJobs.some((j) => two.activeJobs.includes(j))) owners.add('both at once');
    }, 5);
    one.start();
    two.start();
    try {
      const manifests = await Promise.all(jobs.map((statusPath, i) => waitForManifest(server.app, statusPath, clients[i])));
      expect(owners).toEqual(new Set(['one', 'two']));
      for (const [i, manifest] of manifests.entries()) {
        const attempt = await server.db.query<{ attempt: number }>('SELECT attempt FROM export_jobs WHERE id = $1', [jobs[i].split('/').pop()]);
        expect(Number(attempt.rows[0].attempt)).toBe(1);
        expectExactlyStored(
          await downloadAll(server.app, manifest, { authorization: clients[i] }),
          await storedResources(server.db, DEFAULT_ORG_ID, manifest.transactionTime, [types[i]]),
        );
      }
    } finally {
      clearInterval(watch);
      await Promise.all([one.stop(), two.stop()]);
    }
  });

  it('shows status and files only to the client that started the export, in its org', async () => {
    const manifest = await runToManifest(await kickOff(server.app, '/fhir/$export?_type=Patient'));
    const statusPath = `/bulk-export/${manifest.output[0].url.split('/bulk-export/')[1].split('/')[0]}`;
    const fileUrl = pathOf(manifest.output[0].url);

    const otherOrg = await server.auth.createOrg('Other clinic');
    const strangers = {
      'another org': `Bearer ${await server.auth.token({ orgId: otherOrg, kind: 'client', subject: 'test-system-client', scopes: ['system/*.rs'] })}`,
      'another client': `Bearer ${await server.auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'someone-else', scopes: ['system/*.rs'] })}`,
    };
    for (const authorization of Object.values(strangers)) {
      for (const [method, url] of [['GET', statusPath], ['GET', fileUrl], ['DELETE', statusPath]] as const) {
        const res = await server.app.inject({ method, url, headers: { authorization } });
        expect(res.statusCode).toBe(404);
        expect(res.json().resourceType).toBe('OperationOutcome');
      }
    }
    const anonymous = await server.app.inject({ method: 'GET', url: fileUrl, headers: { authorization: undefined } });
    expect(anonymous.statusCode).toBe(401);
    expect((await server.app.inject({ method: 'GET', url: fileUrl })).statusCode).toBe(200);

    // An export of the other org sees none of this org's data.
    const other = strangers['another org'];
    const theirs = await runToManifest(await kickOff(server.app, '/fhir/$export?_type=Patient,Encounter', { authorization: other }), other);
    expect(theirs.output).toEqual([]);
  });

  it('needs system or user scopes with read and search on the exported types', async () => {
    const patientsOnly = `Bearer ${await server.auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'narrow', scopes: ['system/Patient.rs'] })}`;
    const refused = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Condition', headers: { ...KICKOFF_HEADERS, authorization: patientsOnly } });
    expect(refused.statusCode).toBe(403);
    const readOnly = `Bearer ${await server.auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'read-only', scopes: ['system/*.r'] })}`;
    expect((await server.app.inject({ method: 'GET', url: '/fhir/$export', headers: { ...KICKOFF_HEADERS, authorization: readOnly } })).statusCode).toBe(403);
    const patient = await server.auth.createUser(DEFAULT_ORG_ID, 'patient');
    const asPatient = await server.app.inject({ method: 'GET', url: '/fhir/Patient/$export', headers: { ...KICKOFF_HEADERS, authorization: `Bearer ${patient.token}` } });
    expect(asPatient.statusCode).toBe(403);

    // Without _type, the export holds the types the scopes open, and nothing else.
    const manifest = await runToManifest(await kickOff(server.app, '/fhir/$export', { authorization: patientsOnly }), patientsOnly);
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
  });

  it('answers 429 with Retry-After when a client has too many exports running', async () => {
    const busy = `Bearer ${await server.auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'busy', scopes: ['system/*.rs'] })}`;
    const first = await kickOff(server.app, '/fhir/$export?_type=Patient', { authorization: busy });
    await kickOff(server.app, '/fhir/$export?_type=Patient', { authorization: busy });
    const third = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers: { ...KICKOFF_HEADERS, authorization: busy } });
    expect(third.statusCode).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    expect(third.json().issue[0].code).toBe('throttled');
    expect((await server.app.inject({ method: 'DELETE', url: first, headers: { authorization: busy } })).statusCode).toBe(202);
    expect((await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers: { ...KICKOFF_HEADERS, authorization: busy } })).statusCode).toBe(202);
  });

  it('expires finished exports: the status answers 404 and the files are deleted', async () => {
    const statusPath = await kickOff(server.app, '/fhir/$export?_type=Patient');
    const manifest = await runToManifest(statusPath);
    const jobId = statusPath.split('/').pop() as string;
    await server.db.query(`UPDATE export_jobs SET expires_at = now() - interval '1 second' WHERE id = $1`, [jobId]);
    expect((await server.app.inject({ method: 'GET', url: statusPath })).statusCode).toBe(404);
    expect((await server.app.inject({ method: 'GET', url: pathOf(manifest.output[0].url) })).statusCode).toBe(404);
    const worker = testWorker(server.db, dataDir);
    worker.start();
    try {
      await waitFor(async () => !(await readdir(join(dataDir, 'exports'))).includes(jobId), 10_000, 'expired files removed');
    } finally {
      await worker.stop();
    }
  });

  it('records every export in the audit trail: kick-off, completion and downloads', async () => {
    const statusPath = await kickOff(server.app, '/fhir/$export?_type=Patient');
    const jobId = statusPath.split('/').pop() as string;
    // The worker records the job's end through the server's audit writer, as the server's own worker does.
    const writer = new AuditBatchWriter(server.db, { extractIndexes }, { flushIntervalMs: 50 });
    const worker = testWorker(server.db, dataDir, {}, undefined, exportAudit(writer));
    worker.start();
    const manifest = await waitForManifest(server.app, statusPath);
    await worker.stop();
    await writer.close();
    await downloadAll(server.app, manifest);
    await waitFor(async () => {
      const events = await server.db.query<{ resource_data: AuditEvent }>(`SELECT resource_data FROM fhir_resources WHERE resource_type = 'AuditEvent' AND org_id = $1`, [DEFAULT_ORG_ID]);
      const texts = events.rows.map((r) => Buffer.from(r.resource_data.entity?.[0]?.query ?? '', 'base64').toString('utf8')).filter((t) => t.includes(jobId));
      return ['created', 'completed', 'downloaded'].every((w) => texts.some((t) => t.includes(w)));
    }, 10_000, 'audit events');
  });
});
