import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, Patient } from '@medplum/fhirtypes';
import { buildAuditEvent } from '../../src/audit/audit-event.js';
import { drainAuditOutbox } from '../../src/audit/audit-outbox.js';
import { AuditBatchWriter } from '../../src/audit/batch-writer.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { MAX_ACCESSES_PER_EVENT as MAX_READS_PER_EVENT } from '../../src/audit/fold.js';
import { fhirAccessOf } from '../../src/audit/http-audit.js';
import type { Database } from '../../src/db/database.js';
import { extractIndexes } from '../../src/fhir/search/index.js';
import { loadValidationDefinitions, validateResource } from '../../src/fhir/validation/validate.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';

async function auditEvents(db: Database, orgId: string): Promise<AuditEvent[]> {
  const r = await db.query<{ resource_data: AuditEvent }>(
    `SELECT resource_data FROM fhir_resources WHERE resource_type = 'AuditEvent' AND org_id = $1 ORDER BY last_updated`,
    [orgId],
  );
  return r.rows.map((row) => row.resource_data);
}

/** Reads are stored by the batch writer within a second or so. */
async function waitForAudit(db: Database, orgId: string, match: (e: AuditEvent) => boolean): Promise<AuditEvent> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = (await auditEvents(db, orgId)).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error('AuditEvent not recorded');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const subtype = (e: AuditEvent) => e.subtype?.[0]?.code;

/** Write records still waiting in the outbox (what LIKE pattern). */
async function outboxRows(db: Database, what: string): Promise<{ what: string; interaction: string }[]> {
  return (await db.query<{ what: string; interaction: string }>('SELECT what, interaction FROM audit_outbox WHERE what LIKE $1', [what])).rows;
}
const readsOf = (e: AuditEvent) => (e.entity ?? []).map((entity) => entity.what?.reference);

describe('AuditEvent construction', () => {
  it('builds events that pass the FHIR R4 validator', () => {
    loadValidationDefinitions();
    const principal = { orgId: 'o', kind: 'user' as const, subject: 'u1', role: 'practitioner' as const, fhirUser: 'Practitioner/p1', scopes: [] };
    const samples = [
      buildAuditEvent({ interaction: 'read', outcome: '0', principal, address: '10.0.0.1', what: 'Patient/1' }),
      buildAuditEvent({ interaction: 'search-type', outcome: '0', principal, whatType: 'Observation', query: 'code=1234-5' }),
      buildAuditEvent({ interaction: 'create', outcome: '4', outcomeDesc: 'forbidden', principal: { ...principal, kind: 'client', subject: 'c1', fhirUser: undefined } }),
      buildAuditEvent({ interaction: 'history-system', outcome: '4', outcomeDesc: 'unauthenticated' }),
      buildAuditEvent({ interaction: 'delete', outcome: '8', outcomeDesc: 'HTTP 500', principal, what: 'Patient/1/_history/3' }),
      buildAuditEvent({
        interaction: 'read',
        outcome: '0',
        principal,
        whats: ['Patient/1', 'Patient/2'],
        period: { start: new Date('2026-01-01T10:00:00.000Z'), end: new Date('2026-01-01T10:00:00.900Z') },
      }),
    ];
    for (const event of samples) expect(() => validateResource(event)).not.toThrow();
    expect(samples[0]).toMatchObject({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
      action: 'R',
      agent: [{ who: { reference: 'Practitioner/p1' }, requestor: true, network: { address: '10.0.0.1', type: '2' } }],
      entity: [{ what: { reference: 'Patient/1' } }],
    });
  });

  it('names the FHIR interaction of each request', () => {
    expect(fhirAccessOf('GET', '/fhir/Patient/1')).toEqual({ interaction: 'read', what: 'Patient/1' });
    expect(fhirAccessOf('GET', '/fhir/Patient/1/_history/2')).toEqual({ interaction: 'vread', what: 'Patient/1/_history/2' });
    expect(fhirAccessOf('GET', '/fhir/Patient?name=x')).toEqual({ interaction: 'search-type', whatType: 'Patient', query: 'name=x' });
    expect(fhirAccessOf('GET', '/fhir/Patient/1/_history')?.interaction).toBe('history-instance');
    expect(fhirAccessOf('GET', '/fhir/Patient/_history')?.interaction).toBe('history-type');
    expect(fhirAccessOf('GET', '/fhir/_history')?.interaction).toBe('history-system');
    expect(fhirAccessOf('PATCH', '/fhir/Patient/1')?.interaction).toBe('patch');
    expect(fhirAccessOf('POST', '/fhir', { type: 'transaction' })?.interaction).toBe('transaction');
    expect(fhirAccessOf('GET', '/fhir/metadata')).toBeUndefined();
    expect(fhirAccessOf('GET', '/fhir/.well-known/smart-configuration')).toBeUndefined();
  });
});

describe.each(testDatabaseKinds())('audit trail on %s', (kind) => {
  let server: TestServer;
  let orgId: string;
  let practitioner: TestUser;
  let admin: TestUser;
  beforeAll(async () => {
    server = await createTestServer(kind);
    orgId = await server.auth.createOrg('Audited clinic');
    practitioner = await server.auth.createUser(orgId, 'practitioner');
    admin = await server.auth.createUser(orgId, 'admin');
  });
  afterAll(() => server.close());

  const as = (token: string | undefined, method: string, url: string, payload?: object) =>
    server.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: token ? `Bearer ${token}` : undefined, ...(payload ? { 'content-type': 'application/fhir+json' } : {}) },
      ...(payload ? { payload } : {}),
    });

  it('turns each write\'s record into an AuditEvent with the user as agent', async () => {
    const created = await as(practitioner.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Audited' }] });
    const id = created.json().id;
    const event = await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(`Patient/${id}/_history/1`));
    expect(event).toMatchObject({ action: 'C', outcome: '0', subtype: [{ code: 'create' }], agent: [{ who: { reference: practitioner.fhirUser }, requestor: true }] });
    expect(event.period?.start).toBeDefined();

    const update = await as(practitioner.token, 'PUT', `/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Audited2' }] });
    expect(update.statusCode).toBe(200);
    await as(practitioner.token, 'DELETE', `/fhir/Patient/${id}`);
    const updated = await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(`Patient/${id}/_history/2`));
    const deleted = await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(`Patient/${id}/_history/3`));
    expect([updated.action, deleted.action]).toEqual(['U', 'D']);
    // drained: the records left the outbox in the transaction that stored their events
    expect(await outboxRows(server.db, `Patient/${id}/_history/%`)).toEqual([]);
  });

  it('stores no success record for a write that did not happen', async () => {
    const { id } = (await as(practitioner.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Stale' }] })).json();
    const stale = await server.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${id}`,
      headers: { authorization: `Bearer ${practitioner.token}`, 'content-type': 'application/fhir+json', 'if-match': 'W/"7"' },
      payload: { resourceType: 'Patient', id, name: [{ family: 'Lost' }] },
    });
    expect(stale.statusCode).toBe(412);
    await waitForAudit(server.db, orgId, (e) => e.entity?.[0]?.what?.reference === `Patient/${id}` && e.outcomeDesc === 'precondition failed');
    await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(`Patient/${id}/_history/1`));
    expect(await outboxRows(server.db, `Patient/${id}/_history/2`)).toEqual([]);
    const events = await auditEvents(server.db, orgId);
    expect(events.filter((e) => readsOf(e).includes(`Patient/${id}/_history/2`))).toEqual([]);
  });

  it('indexes write records like any AuditEvent, so FHIR search finds them', async () => {
    const { id } = (await as(practitioner.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Found' }] })).json();
    const query = new URLSearchParams({
      entity: `Patient/${id}`,
      subtype: 'http://hl7.org/fhir/restful-interaction|create',
      action: 'C',
      date: `ge${new Date(Date.now() - 60_000).toISOString()}`,
      address: '127.0.0.1',
    });
    await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(`Patient/${id}/_history/1`));
    const res = await as(admin.token, 'GET', `/fhir/AuditEvent?${query}`);
    expect(res.statusCode).toBe(200);
    const found: AuditEvent[] = res.json().entry?.map((e: { resource: AuditEvent }) => e.resource) ?? [];
    expect(found).toHaveLength(1);
    expect(readsOf(found[0])).toContain(`Patient/${id}/_history/1`);
  });

  it('records reads, searches, failures and forbidden attempts through the batch writer', async () => {
    const created = (await as(practitioner.token, 'POST', '/fhir/Patient', { resourceType: 'Patient' })).json();
    await as(practitioner.token, 'GET', `/fhir/Patient/${created.id}`);
    await waitForAudit(server.db, orgId, (e) => subtype(e) === 'read' && readsOf(e).includes(`Patient/${created.id}`) && e.outcome === '0');

    await as(practitioner.token, 'GET', '/fhir/Patient?family=Nobody');
    const search = await waitForAudit(server.db, orgId, (e) => subtype(e) === 'search-type' && e.entity?.[0]?.what?.type === 'Patient');
    expect(Buffer.from(search.entity![0].query!, 'base64').toString()).toBe('family=Nobody');

    await as(practitioner.token, 'GET', '/fhir/Patient/does-not-exist');
    await waitForAudit(server.db, orgId, (e) => e.entity?.[0]?.what?.reference === 'Patient/does-not-exist' && e.outcome === '4' && e.outcomeDesc === 'not found');

    const readOnly = await server.auth.token({ orgId, kind: 'client', subject: 'ro-client', scopes: ['system/*.rs'] });
    expect((await as(readOnly, 'POST', '/fhir/Patient', { resourceType: 'Patient' })).statusCode).toBe(403);
    const forbidden = await waitForAudit(server.db, orgId, (e) => e.outcomeDesc === 'forbidden');
    expect(forbidden).toMatchObject({ action: 'C', outcome: '4', agent: [{ who: { identifier: { value: 'ro-client' } } }] });

    expect((await as(undefined, 'GET', `/fhir/Patient/${created.id}`)).statusCode).toBe(401);
    const anonymous = await waitForAudit(server.db, DEFAULT_ORG_ID, (e) => e.outcomeDesc === 'unauthenticated');
    expect(anonymous.agent[0].who?.display).toBe('unauthenticated caller');
  });

  it('folds one caller\'s successful reads into one event that FHIR search finds by each resource', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await as(practitioner.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: `Folded${i}` }] })).json().id);
    const before = Date.now();
    for (const id of [...ids, ids[0]]) expect((await as(practitioner.token, 'GET', `/fhir/Patient/${id}`)).statusCode).toBe(200);
    expect((await as(admin.token, 'GET', `/fhir/Patient/${ids[1]}`)).statusCode).toBe(200);
    expect((await as(practitioner.token, 'GET', `/fhir/Patient/${ids[2]}/_history/1`)).statusCode).toBe(200);
    expect((await as(practitioner.token, 'GET', '/fhir/Patient/folded-missing')).statusCode).toBe(404);
    const after = Date.now();

    const folded = await waitForAudit(server.db, orgId, (e) => subtype(e) === 'read' && readsOf(e).includes(`Patient/${ids[0]}`));
    expect(folded.agent[0].who?.reference).toBe(practitioner.fhirUser);
    // each resource once, in the order first read; the admin's read and the vread are events of their own
    expect(readsOf(folded).filter((r) => ids.some((id) => r === `Patient/${id}`))).toEqual(ids.map((id) => `Patient/${id}`));
    expect(Date.parse(folded.period!.start!)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(folded.period!.end!)).toBeLessThanOrEqual(after);
    expect(Date.parse(folded.period!.start!)).toBeLessThanOrEqual(Date.parse(folded.period!.end!));
    expect(Date.parse(folded.recorded)).toBeGreaterThanOrEqual(Date.parse(folded.period!.end!));
    expect(() => validateResource(folded)).not.toThrow();
    const byAdmin = await waitForAudit(server.db, orgId, (e) => subtype(e) === 'read' && readsOf(e).includes(`Patient/${ids[1]}`) && e.agent[0].who?.reference === admin.fhirUser);
    expect(readsOf(byAdmin)).not.toContain(`Patient/${ids[0]}`);
    await waitForAudit(server.db, orgId, (e) => subtype(e) === 'vread' && readsOf(e).includes(`Patient/${ids[2]}/_history/1`));
    const miss = await waitForAudit(server.db, orgId, (e) => readsOf(e).includes('Patient/folded-missing'));
    expect(miss).toMatchObject({ outcome: '4', entity: [{ what: { reference: 'Patient/folded-missing' } }] });
    expect(miss.period).toBeUndefined();

    const found = await as(admin.token, 'GET', `/fhir/AuditEvent?entity=Patient/${ids[2]}&subtype=read`);
    expect(found.json().entry.map((e: { resource: AuditEvent }) => e.resource.id)).toEqual([folded.id]);
  });

  it('lets admins search the AuditEvents of their org through FHIR, and nobody else', async () => {
    await as(practitioner.token, 'GET', `/fhir/${practitioner.fhirUser}`);
    await waitForAudit(server.db, orgId, (e) => readsOf(e).includes(practitioner.fhirUser!));
    const res = await as(admin.token, 'GET', '/fhir/AuditEvent?_count=100');
    expect(res.statusCode).toBe(200);
    expect(res.json().entry.length).toBeGreaterThan(0);
    expect((await as(practitioner.token, 'GET', '/fhir/AuditEvent')).statusCode).toBe(403);
    expect((await as(admin.token, 'POST', '/fhir/AuditEvent', buildAuditEvent({ interaction: 'read', outcome: '0' }))).statusCode).toBe(403);
    const other = await server.auth.createUser(await server.auth.createOrg('Elsewhere'), 'admin');
    const theirs = await as(other.token, 'GET', '/fhir/AuditEvent?_count=100');
    const agents = (theirs.json().entry ?? []).map((e: { resource: AuditEvent }) => e.resource.agent[0].who?.reference);
    expect(agents).not.toContain(practitioner.fhirUser);
  });
});

describe.each(testDatabaseKinds())('audit batch writer on %s', (kind) => {
  it('loses nothing: what is queued is stored on close', async () => {
    const database = await createTestDatabase(kind);
    try {
      const writer = new AuditBatchWriter(database.db, { extractIndexes }, { flushIntervalMs: 60_000, maxBatch: 1000 });
      for (let i = 0; i < 250; i++) writer.enqueue({ orgId: 'org-x', event: buildAuditEvent({ interaction: 'read', outcome: '0', what: `Patient/${i}` }) });
      expect(writer.pending).toBe(250);
      await writer.close();
      expect((await auditEvents(database.db, 'org-x')).length).toBe(250);
    } finally {
      await database.close();
    }
  });

  it('folds reads per caller, address and interaction, at most MAX_READS_PER_EVENT resources an event', async () => {
    const database = await createTestDatabase(kind);
    try {
      const writer = new AuditBatchWriter(database.db, { extractIndexes }, { flushIntervalMs: 60_000, maxBatch: 1000 });
      const principal = { orgId: 'org-f', kind: 'client' as const, subject: 'c1', scopes: [] };
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, 0, ms));
      for (let i = 0; i < MAX_READS_PER_EVENT + 5; i++) writer.recordRead({ orgId: 'org-f', interaction: 'read', principal, address: '10.0.0.1', what: `Patient/${i}`, at: at(i) });
      writer.recordRead({ orgId: 'org-f', interaction: 'read', principal, address: '10.0.0.2', what: 'Patient/0', at: at(1) });
      writer.recordRead({ orgId: 'org-f', interaction: 'read', principal: { ...principal, subject: 'c2' }, address: '10.0.0.1', what: 'Patient/0', at: at(2) });
      writer.recordRead({ orgId: 'org-f', interaction: 'vread', principal, address: '10.0.0.1', what: 'Patient/0/_history/1', at: at(3) });
      writer.recordRead({ orgId: 'org-g', interaction: 'read', principal, address: '10.0.0.1', what: 'Patient/0', at: at(4) });
      await writer.close();

      const events = await auditEvents(database.db, 'org-f');
      const summary = events
        .map((e) => [subtype(e), e.agent[0].who?.identifier?.value, e.agent[0].network?.address, e.entity!.length, e.period?.start, e.period?.end])
        .sort((a, b) => String(a).localeCompare(String(b)));
      expect(summary).toEqual(
        [
          ['read', 'c1', '10.0.0.1', MAX_READS_PER_EVENT, at(0).toISOString(), at(MAX_READS_PER_EVENT - 1).toISOString()],
          ['read', 'c1', '10.0.0.1', 5, at(MAX_READS_PER_EVENT).toISOString(), at(MAX_READS_PER_EVENT + 4).toISOString()],
          ['read', 'c1', '10.0.0.2', 1, at(1).toISOString(), at(1).toISOString()],
          ['read', 'c2', '10.0.0.1', 1, at(2).toISOString(), at(2).toISOString()],
          ['vread', 'c1', '10.0.0.1', 1, at(3).toISOString(), at(3).toISOString()],
        ].sort((a, b) => String(a).localeCompare(String(b))),
      );
      const full = events.find((e) => e.entity!.length === MAX_READS_PER_EVENT)!;
      expect(readsOf(full)).toEqual(Array.from({ length: MAX_READS_PER_EVENT }, (_, i) => `Patient/${i}`));
      expect(await auditEvents(database.db, 'org-g')).toHaveLength(1);
    } finally {
      await database.close();
    }
  });

  it('stores a write\'s record in the write\'s statement and turns it into an AuditEvent exactly once', async () => {
    const database = await createTestDatabase(kind);
    try {
      const store = createDefaultFhirStore(database.db);
      const principal = { orgId: 'org-w', kind: 'user' as const, subject: 'u9', fhirUser: 'Practitioner/p9', scopes: [] };
      const repo = store.repository({ orgId: 'org-w', baseUrl: 'http://fhir.test/fhir', principal });
      const created = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Outboxed' }] });
      await repo.update({ ...created.resource, active: true });
      // committed with the writes, before any drain
      expect((await outboxRows(database.db, `Patient/${created.resource.id}/_history/%`)).map((r) => [r.what.split('/').pop(), r.interaction])).toEqual([
        ['1', 'create'],
        ['2', 'update'],
      ]);
      // a write that fails (stale If-Match) leaves no record
      await expect(repo.update({ ...created.resource, active: false }, { ifMatch: '1' })).rejects.toThrow();
      expect(await outboxRows(database.db, `Patient/${created.resource.id}/_history/3`)).toEqual([]);

      // a drain whose events cannot be stored leaves the records where they were
      await expect(drainAuditOutbox(database.db, { extractIndexes: () => { throw new Error('index unavailable'); } })).rejects.toThrow('index unavailable');
      expect(await outboxRows(database.db, '%')).toHaveLength(2);

      expect(await drainAuditOutbox(database.db, { extractIndexes })).toBe(2);
      expect(await drainAuditOutbox(database.db, { extractIndexes })).toBe(0);
      const events = await auditEvents(database.db, 'org-w');
      expect(events.map((e) => [subtype(e), readsOf(e), e.agent[0].who?.reference]).sort()).toEqual([
        ['create', [`Patient/${created.resource.id}/_history/1`], 'Practitioner/p9'],
        ['update', [`Patient/${created.resource.id}/_history/2`], 'Practitioner/p9'],
      ]);
      for (const event of events) expect(() => validateResource(event)).not.toThrow();
    } finally {
      await database.close();
    }
  });

  it('drains from two servers at once without storing a record twice or losing one', async () => {
    const database = await createTestDatabase(kind);
    try {
      const values: string[] = [];
      for (let i = 0; i < 3000; i++) values.push(`('org-d', now(), 'create', 'Patient/${i}/_history/1', 'client', 'c${i % 7}', NULL, '10.0.0.${i % 3}')`);
      await database.db.exec(`INSERT INTO audit_outbox (org_id, recorded, interaction, what, agent_kind, agent_subject, agent_fhir_user, address) VALUES ${values.join(',')}`);
      const drainAll = async () => {
        let moved = 0;
        for (let n; (n = await drainAuditOutbox(database.db, { extractIndexes }, { batch: 250 })) > 0; ) moved += n;
        return moved;
      };
      const moved = await Promise.all([drainAll(), drainAll()]);
      expect(moved[0] + moved[1]).toBe(3000);
      const listed = (await auditEvents(database.db, 'org-d')).flatMap(readsOf);
      expect(listed).toHaveLength(3000);
      expect(new Set(listed).size).toBe(3000);
    } finally {
      await database.close();
    }
  });

  it('keeps a failed batch and stores it on the next flush', async () => {
    const database = await createTestDatabase(kind);
    try {
      let failNext = true;
      const errors: unknown[] = [];
      // The database refuses the first statement, as when the connection is lost.
      const flaky: Database = Object.assign(Object.create(database.db) as Database, {
        query: async (sql: string, params?: unknown[]) => {
          if (failNext) {
            failNext = false;
            throw new Error('database unavailable');
          }
          return database.db.query(sql, params);
        },
      });
      const writer = new AuditBatchWriter(flaky, { extractIndexes }, { flushIntervalMs: 60_000, onError: (err) => errors.push(err) });
      writer.enqueue({ orgId: 'org-y', event: buildAuditEvent({ interaction: 'read', outcome: '0', what: 'Patient/1' }) });
      await writer.flush();
      expect(errors).toHaveLength(1);
      expect(writer.pending).toBe(1);
      await writer.close();
      expect((await auditEvents(database.db, 'org-y')).length).toBe(1);
    } finally {
      await database.close();
    }
  });
});
