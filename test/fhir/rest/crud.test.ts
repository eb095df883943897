import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';

const FHIR = 'application/fhir+json';

describe.each(testDatabaseKinds())('FHIR REST create/read/update/delete on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind);
  });
  afterAll(() => server.close());

  const inject = (opts: InjectOptions) => server.app.inject(opts);

  async function createPatient(family = 'Chalmers'): Promise<Patient> {
    const res = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': FHIR },
      payload: { resourceType: 'Patient', name: [{ family, given: ['Peter'] }], gender: 'male' },
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  it('creates with 201, Location, ETag and Last-Modified, and reads it back', async () => {
    const res = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': `${FHIR}; charset=utf-8` },
      payload: { resourceType: 'Patient', id: 'client-id-ignored', name: [{ family: 'Chalmers' }] },
    });
    expect(res.statusCode).toBe(201);
    const created = res.json() as Patient;
    expect(created.id).not.toBe('client-id-ignored');
    expect(created.meta?.versionId).toBe('1');
    expect(created.meta?.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.headers.location).toBe(`http://fhir.test/fhir/Patient/${created.id}/_history/1`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(new Date(res.headers['last-modified'] as string).getTime()).toBeGreaterThan(0);
    expect(res.headers['content-type']).toContain('application/fhir+json');

    const read = await inject({ method: 'GET', url: `/fhir/Patient/${created.id}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(created);
    expect(read.headers.etag).toBe('W/"1"');
  });

  it('gives new resources time-ordered ids (UUID version 7), later creates sorting after earlier ones', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createPatient(`Order${i}`)).id!);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('accepts plain application/json and answers in it when asked', async () => {
    const res = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      payload: JSON.stringify({ resourceType: 'Patient', active: true }),
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toContain('application/json');
  });

  it('updates with a new version, and an update that changes nothing makes no version', async () => {
    const p = await createPatient();
    const changed = { ...p, gender: 'female' as const };
    const upd = await inject({ method: 'PUT', url: `/fhir/Patient/${p.id}`, headers: { 'content-type': FHIR }, payload: changed });
    expect(upd.statusCode).toBe(200);
    expect(upd.json().meta.versionId).toBe('2');
    expect(upd.headers.etag).toBe('W/"2"');

    const same = await inject({ method: 'PUT', url: `/fhir/Patient/${p.id}`, headers: { 'content-type': FHIR }, payload: upd.json() });
    expect(same.statusCode).toBe(200);
    expect(same.json().meta.versionId).toBe('2');

    const hist = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history` });
    expect(hist.json().entry).toHaveLength(2);
    const v1 = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history/1` });
    expect(v1.json().gender).toBe('male');
  });

  it('update-as-create with a client id answers 201', async () => {
    const res = await inject({
      method: 'PUT',
      url: '/fhir/Practitioner/dr-who',
      headers: { 'content-type': FHIR },
      payload: { resourceType: 'Practitioner', id: 'dr-who', name: [{ family: 'Who' }] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().meta.versionId).toBe('1');
  });

  it('refuses a stale If-Match with 412 and accepts the current one', async () => {
    const p = await createPatient();
    const stale = await inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': FHIR, 'if-match': 'W/"0"' },
      payload: { ...p, active: true },
    });
    expect(stale.statusCode).toBe(412);
    expect((stale.json() as OperationOutcome).issue[0].code).toBe('conflict');
    const ok = await inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': FHIR, 'if-match': 'W/"1"' },
      payload: { ...p, active: true },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('concurrent updates with the same If-Match: exactly one wins, none is lost', async () => {
    const p = await createPatient();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        inject({
          method: 'PUT',
          url: `/fhir/Patient/${p.id}`,
          headers: { 'content-type': FHIR, 'if-match': 'W/"1"' },
          payload: { ...p, birthDate: `1990-01-0${i + 1}` },
        }),
      ),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 412)).toHaveLength(7);
    const hist = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history` });
    expect(hist.json().entry).toHaveLength(2);
  });

  it('concurrent updates without If-Match each get their own version', async () => {
    const p = await createPatient();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        inject({ method: 'PUT', url: `/fhir/Patient/${p.id}`, headers: { 'content-type': FHIR }, payload: { ...p, birthDate: `1980-02-0${i + 1}` } }),
      ),
    );
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    const versions = results.map((r) => r.json().meta.versionId).sort();
    expect(versions).toEqual(['2', '3', '4', '5', '6', '7']);
  });

  it('patches with JSON Patch, refuses a failed test op and an id change', async () => {
    const p = await createPatient();
    const ok = await inject({
      method: 'PATCH',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'replace', path: '/gender', value: 'other' }, { op: 'add', path: '/active', value: true }],
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ gender: 'other', active: true, meta: { versionId: '2' } });

    const failedTest = await inject({
      method: 'PATCH',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'test', path: '/gender', value: 'male' }, { op: 'replace', path: '/gender', value: 'female' }],
    });
    expect(failedTest.statusCode).toBe(422);

    const idChange = await inject({
      method: 'PATCH',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'replace', path: '/id', value: 'other' }],
    });
    expect(idChange.statusCode).toBe(400);

    const invalid = await inject({
      method: 'PATCH',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: [{ op: 'replace', path: '/gender', value: 'robot' }],
    });
    expect(invalid.statusCode).toBe(400);
    const after = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    expect(after.json().meta.versionId).toBe('2');
  });

  it('deletes with 204, then read is 410 Gone, history keeps every version and the tombstone', async () => {
    const p = await createPatient();
    const del = await inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    expect(del.statusCode).toBe(204);
    const read = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    expect(read.statusCode).toBe(410);
    expect(read.json().resourceType).toBe('OperationOutcome');
    const again = await inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    expect(again.statusCode).toBe(204);
    const hist = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history` });
    const entries = hist.json().entry;
    expect(entries).toHaveLength(2);
    expect(entries[0].request.method).toBe('DELETE');
    expect(entries[0].resource).toBeUndefined();
    expect((await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history/2` })).statusCode).toBe(410);
    expect((await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history/1` })).statusCode).toBe(200);

    // Writing it again brings it back as a new version.
    const revived = await inject({ method: 'PUT', url: `/fhir/Patient/${p.id}`, headers: { 'content-type': FHIR }, payload: p });
    expect(revived.statusCode).toBe(201);
    expect(revived.json().meta.versionId).toBe('3');
  });

  it('answers Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': FHIR, prefer: 'return=minimal' },
      payload: { resourceType: 'Patient' },
    });
    expect(minimal.statusCode).toBe(201);
    expect(minimal.body).toBe('');
    expect(minimal.headers.location).toMatch(/Patient\/.+\/_history\/1$/);
    const oo = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': FHIR, prefer: 'return=OperationOutcome' },
      payload: { resourceType: 'Patient' },
    });
    expect(oo.json().resourceType).toBe('OperationOutcome');
  });

  it('a conditional create that finds its match answers 200 with the match\'s Location, even under return=minimal', async () => {
    const post = (prefer?: string) =>
      inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: { 'content-type': FHIR, 'if-none-exist': 'identifier=urn:test:crud|IFN-1', ...(prefer ? { prefer } : {}) },
        payload: { resourceType: 'Patient', identifier: [{ system: 'urn:test:crud', value: 'IFN-1' }] },
      });
    const first = await post();
    expect(first.statusCode).toBe(201);
    const id = (first.json() as Patient).id;
    const again = await post('return=minimal');
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe('');
    expect(again.headers.location).toBe(`http://fhir.test/fhir/Patient/${id}/_history/1`);
    const represented = await post();
    expect(represented.statusCode).toBe(200);
    expect((represented.json() as Patient).id).toBe(id);
  });

  it('answers a read with the stored JSON as it is, and a Bundle read with the resource', async () => {
    const p = await createPatient('Verbatim');
    const stored = await server.db.query<{ json: string }>(`SELECT resource_data::text AS json FROM fhir_resources WHERE resource_type = 'Patient' AND id = $1`, [p.id]);
    const read = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    expect(read.body).toBe(stored.rows[0].json);
    expect(read.json()).toEqual(p);
    expect(read.headers['last-modified']).toBe(new Date(p.meta!.lastUpdated!).toUTCString());
    expect(read.headers['content-type']).toContain('application/fhir+json');
    const batch = await inject({
      method: 'POST',
      url: '/fhir',
      headers: { 'content-type': FHIR },
      payload: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${p.id}` } }] },
    });
    expect(batch.json().entry[0].resource).toEqual(p);
    expect(batch.json().entry[0].response).toMatchObject({ status: '200 OK', etag: 'W/"1"' });
    await inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    expect((await inject({ method: 'GET', url: `/fhir/Patient/${p.id}` })).statusCode).toBe(410);
    expect((await inject({ method: 'GET', url: '/fhir/Patient/never-was' })).statusCode).toBe(404);
  });

  it('answers a create and an update with the resource as stored, meta included, and Bundle writes with the resource', async () => {
    const created = await inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': FHIR },
      payload: { resourceType: 'Patient', meta: { versionId: '7', profile: ['http://example.org/p'] }, name: [{ family: 'Written "as" stored' }] },
    });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(Object.keys(body).slice(0, 3)).toEqual(['resourceType', 'id', 'meta']);
    expect(body.meta).toEqual({ profile: ['http://example.org/p'], versionId: '1', lastUpdated: expect.any(String) });
    expect((await inject({ method: 'GET', url: `/fhir/Patient/${body.id}` })).json()).toEqual(body);
    const updated = await inject({
      method: 'PUT',
      url: `/fhir/Patient/${body.id}?_pretty=true`,
      headers: { 'content-type': FHIR },
      payload: { ...body, active: true },
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.body).toContain('\n  "resourceType"');
    expect(updated.json()).toEqual((await inject({ method: 'GET', url: `/fhir/Patient/${body.id}` })).json());
    expect(updated.json().meta.versionId).toBe('2');
    const batch = await inject({
      method: 'POST',
      url: '/fhir',
      headers: { 'content-type': FHIR },
      payload: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', active: false } }] },
    });
    expect(batch.json().entry[0].resource).toMatchObject({ resourceType: 'Patient', active: false, meta: { versionId: '1' } });
  });

  it('pretty-prints with _pretty and refuses XML', async () => {
    const p = await createPatient();
    const pretty = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}?_pretty=true` });
    expect(pretty.body).toContain('\n  "resourceType"');
    const xml = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}?_format=xml` });
    expect(xml.statusCode).toBe(406);
  });

  it('type and system history list versions newest first and page with a cursor', async () => {
    const p = await createPatient('Historian');
    for (let i = 0; i < 3; i++) {
      await inject({ method: 'PUT', url: `/fhir/Patient/${p.id}`, headers: { 'content-type': FHIR }, payload: { ...p, birthDate: `2000-01-0${i + 1}` } });
    }
    const page1 = await inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history?_count=2` });
    const b1 = page1.json();
    expect(b1.type).toBe('history');
    expect(b1.entry.map((e: { response: { etag: string } }) => e.response.etag)).toEqual(['W/"4"', 'W/"3"']);
    const next = b1.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    const page2 = await inject({ method: 'GET', url: next.replace('http://fhir.test', '') });
    expect(page2.json().entry.map((e: { response: { etag: string } }) => e.response.etag)).toEqual(['W/"2"', 'W/"1"']);
    const typeHistory = await inject({ method: 'GET', url: '/fhir/Patient/_history?_count=5' });
    expect(typeHistory.json().entry.length).toBe(5);
    const system = await inject({ method: 'GET', url: '/fhir/_history?_count=1' });
    expect(system.json().entry.length).toBe(1);
  });
});

describe.each(testDatabaseKinds())('FHIR REST refuses bad input on %s, changing nothing', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind, { MAX_BODY_BYTES: '20000' });
  });
  afterAll(() => server.close());

  async function count(): Promise<number> {
    const r = await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history');
    return r.rows[0].n;
  }

  const cases: { name: string; method: 'POST' | 'PUT'; url: string; payload: string; status: number; code: string; contentType?: string }[] = [
    { name: 'malformed JSON', method: 'POST', url: '/fhir/Patient', payload: '{"resourceType": "Patient",', status: 400, code: 'invalid' },
    { name: 'resourceType other than the URL', method: 'POST', url: '/fhir/Patient', payload: '{"resourceType":"Practitioner"}', status: 400, code: 'invalid' },
    { name: 'id other than the URL', method: 'PUT', url: '/fhir/Patient/a', payload: '{"resourceType":"Patient","id":"b"}', status: 400, code: 'invalid' },
    { name: 'unknown resource type', method: 'POST', url: '/fhir/VirtualMeeting', payload: '{"resourceType":"VirtualMeeting"}', status: 404, code: 'not-supported' },
    { name: 'unknown element', method: 'POST', url: '/fhir/Patient', payload: '{"resourceType":"Patient","telehealth":{}}', status: 400, code: 'structure' },
    { name: 'a body over the size limit', method: 'POST', url: '/fhir/Patient', payload: JSON.stringify({ resourceType: 'Patient', name: [{ text: 'x'.repeat(30000) }] }), status: 413, code: 'too-long' },
    {
      name: 'a code outside a required value set (R4 has no in-progress Appointment)',
      method: 'POST',
      url: '/fhir/Appointment',
      payload: JSON.stringify({ resourceType: 'Appointment', status: 'in-progress', participant: [{ status: 'accepted', actor: { display: 'x' } }] }),
      status: 400,
      code: 'code-invalid',
    },
  ];

  it.each(cases)('$name → $status $code', async (c) => {
    const before = await count();
    const res = await server.app.inject({ method: c.method, url: c.url, headers: { 'content-type': 'application/fhir+json' }, payload: c.payload });
    expect(res.statusCode).toBe(c.status);
    const oo = res.json() as OperationOutcome;
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue.map((i) => i.code)).toContain(c.code);
    expect(oo.issue[0].diagnostics).toBeTruthy();
    expect(await count()).toBe(before);
  });

  it('names the bad element with a FHIRPath expression', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      payload: { resourceType: 'Patient', birthDate: 'yesterday' },
    });
    expect(res.statusCode).toBe(400);
    expect(JSON.stringify(res.json().issue)).toContain('Patient.birthDate');
  });

  it('GET /fhir/metadata returns an R4 CapabilityStatement', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/fhir/metadata' });
    expect(res.statusCode).toBe(200);
    const cs = res.json();
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.rest[0].resource.find((r: { type: string }) => r.type === 'Appointment')).toBeTruthy();
  });
});
