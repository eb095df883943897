import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Encounter } from '@medplum/fhirtypes';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';
import { DEFAULT_ORG_ID } from '../../../src/tenancy.js';

describe.each(testDatabaseKinds())('search results respect the caller’s access on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind);
  });
  afterAll(() => server.close());

  const create = async <T extends object>(resource: T): Promise<T & { id: string }> => {
    const res = await server.app.inject({ method: 'POST', url: `/fhir/${(resource as { resourceType: string }).resourceType}`, headers: { 'content-type': 'application/fhir+json' }, payload: resource });
    expect(res.statusCode).toBe(201);
    return res.json();
  };

  it('a patient sees their own encounter but not another patient’s one pulled in by _include', async () => {
    const me = await server.auth.createUser(DEFAULT_ORG_ID, 'patient');
    const other = await create({ resourceType: 'Patient', name: [{ family: 'Other' }] });
    const theirs = await create<Encounter>({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${other.id}` } });
    const mine = await create<Encounter>({
      resourceType: 'Encounter',
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: me.fhirUser },
      partOf: { reference: `Encounter/${theirs.id}` },
    });

    const asSystem = await server.app.inject({ method: 'GET', url: `/fhir/Encounter?_id=${mine.id}&_include=Encounter:part-of` });
    expect((asSystem.json() as Bundle).entry?.map((e) => e.resource?.id).sort()).toEqual([mine.id, theirs.id].sort());

    const asPatient = await server.app.inject({
      method: 'GET',
      url: '/fhir/Encounter?_include=Encounter:part-of',
      headers: { authorization: `Bearer ${me.token}` },
    });
    expect(asPatient.statusCode).toBe(200);
    expect((asPatient.json() as Bundle).entry?.map((e) => e.resource?.id)).toEqual([mine.id]);

    // Asking for the other patient explicitly is ANDed with the patient's own restriction: nothing.
    const sneaky = await server.app.inject({
      method: 'GET',
      url: `/fhir/Encounter?subject=Patient/${other.id}`,
      headers: { authorization: `Bearer ${me.token}` },
    });
    expect((sneaky.json() as Bundle).entry ?? []).toEqual([]);
  });
});
