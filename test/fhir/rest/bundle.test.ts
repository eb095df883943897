import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Encounter, Patient } from '@medplum/fhirtypes';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';

describe.each(testDatabaseKinds())('batch and transaction Bundles on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind);
  });
  afterAll(() => server.close());

  const post = (bundle: unknown, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'POST', url: '/fhir', headers: { 'content-type': 'application/fhir+json', ...headers }, payload: bundle as object });

  async function historyRows(): Promise<number> {
    return (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history')).rows[0].n;
  }

  it('a transaction resolves urn:uuid references, conditional references and answers in request order', async () => {
    await server.app.inject({
      method: 'PUT',
      url: '/fhir/Practitioner/npi-1',
      headers: { 'content-type': 'application/fhir+json' },
      payload: { resourceType: 'Practitioner', id: 'npi-1', identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '9999999999' }] },
    });
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a',
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            subject: { reference: 'urn:uuid:4b1b4b9e-0000-4000-8000-000000000001' },
            participant: [{ individual: { reference: 'Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999999999' } }],
          },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          fullUrl: 'urn:uuid:4b1b4b9e-0000-4000-8000-000000000001',
          resource: { resourceType: 'Patient', name: [{ family: 'Transact' }] },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as Bundle;
    expect(body.type).toBe('transaction-response');
    expect(body.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    const encounter = body.entry![0].resource as Encounter;
    const patient = body.entry![1].resource as Patient;
    expect(encounter.subject?.reference).toBe(`Patient/${patient.id}`);
    expect(encounter.participant?.[0].individual?.reference).toBe('Practitioner/npi-1');
    expect(body.entry![1].response?.location).toMatch(new RegExp(`Patient/${patient.id}/_history/1$`));
  });

  it('a transaction refuses operations (they run in transactions of their own), a batch runs them', async () => {
    const find = { resourceType: 'Parameters', parameter: [{ name: 'schedule', valueString: 'Schedule/none' }] };
    const refused = await post({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: find, request: { method: 'POST', url: 'Appointment/$find' } }] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().issue[0].expression).toEqual(['Bundle.entry[0].request.url']);
    const batch = await post({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: find, request: { method: 'POST', url: 'Appointment/$find' } }] });
    expect(batch.statusCode).toBe(200);
    expect((batch.json() as Bundle).entry?.[0].response?.status).toMatch(/^422/); // Schedule/none is not known
  });

  it('a failing entry rolls back every earlier one, and the answer names the entry', async () => {
    const before = await historyRows();
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', name: [{ family: 'Rolled' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', id: 'keep-not', gender: 'robot' }, request: { method: 'PUT', url: 'Patient/keep-not' } },
      ],
    });
    expect(res.statusCode).toBe(400);
    const oo = res.json();
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0].diagnostics).toContain('Bundle.entry[1]');
    expect(await historyRows()).toBe(before);
  });

  it('a conditional reference matching nothing fails the transaction', async () => {
    const res = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, serviceProvider: { reference: 'Organization?identifier=urn:x|none' } },
          request: { method: 'POST', url: 'Encounter' },
        },
      ],
    });
    expect(res.statusCode).toBe(404);
  });

  it('ifNoneExist in a transaction returns the existing resource instead of creating a second', async () => {
    const entry = {
      fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002',
      resource: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-42' }] },
      request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:mrn|MRN-42' },
    };
    const first = await post({ resourceType: 'Bundle', type: 'transaction', entry: [entry] });
    const second = await post({ resourceType: 'Bundle', type: 'transaction', entry: [entry] });
    expect(first.json().entry[0].response.status).toBe('201 Created');
    expect(second.json().entry[0].response.status).toBe('200 OK');
    expect(second.json().entry[0].resource.id).toBe(first.json().entry[0].resource.id);
  });

  it('a batch runs entries independently, each with its own response', async () => {
    const created = await server.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      payload: { resourceType: 'Patient', name: [{ family: 'Batchy' }] },
    });
    const id = created.json().id;
    const res = await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${id}` } },
        { resource: { resourceType: 'Patient', gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: `Patient/${id}` } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    });
    expect(res.statusCode).toBe(200);
    const statuses = (res.json() as Bundle).entry!.map((e) => e.response!.status);
    expect(statuses).toEqual(['200 OK', '400 Bad Request', '204 No Content', '404 Not Found']);
    expect((res.json() as Bundle).entry![1].response!.outcome?.resourceType).toBe('OperationOutcome');
  });

  it('refuses a Bundle that is not a batch or transaction', async () => {
    const res = await post({ resourceType: 'Bundle', type: 'collection', entry: [] });
    expect(res.statusCode).toBe(400);
  });
});
