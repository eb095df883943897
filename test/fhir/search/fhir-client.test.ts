import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'fhir-kit-client';
import type { Bundle, BundleEntry, Encounter, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';

/*
 * The issue's test of done: a FHIR client library talks to the server over real HTTP, with no special handling,
 * and searches, pages (following the server's own links), includes and posts transactions.
 */

const ENCOUNTERS = 23;
const MRN = 'urn:test:fhir-kit-client';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** fhir-kit-client types what it returns as its own FhirResource; these tests read it as the R4 types. */
const asBundle = async (answer: unknown): Promise<Bundle> => (await answer) as Bundle;
type PagedBundle = Parameters<Client['nextPage']>[0]['bundle'];

const resources = <T>(b: Bundle, mode = 'match') => (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource as T);
/** A day of 2025 for the i-th encounter, in an order that is not the order they are written in. */
const dayOf = (i: number) => new Date(Date.UTC(2025, 0, 1 + ((i * 7) % ENCOUNTERS) * 3)).toISOString().slice(0, 10);

describe.each(testDatabaseKinds())('a FHIR client library (fhir-kit-client) on %s', (kind) => {
  let server: TestServer;
  let client: Client;
  let patientId: string;

  beforeAll(async () => {
    const port = await freePort();
    // The server writes its links from PUBLIC_BASE_URL: the address the client really reaches.
    server = await createTestServer(kind, { PUBLIC_BASE_URL: `http://127.0.0.1:${port}` });
    await server.app.listen({ port, host: '127.0.0.1' });
    client = new Client({ baseUrl: `http://127.0.0.1:${port}/fhir`, bearerToken: server.defaultAuthorization.replace(/^Bearer /, '') });
  }, 120_000);
  afterAll(async () => server?.close());

  const transaction = (entries: BundleEntry[]) => asBundle(client.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: entries } }));
  const patientEntry = (value: string): BundleEntry => ({
    fullUrl: 'urn:uuid:6b0c2b8e-1c51-4b4e-9a36-0f4f2a7f3c11',
    resource: { resourceType: 'Patient', identifier: [{ system: MRN, value }], name: [{ family: 'Kitclient', given: ['Ada'] }] },
    request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|${value}` },
  });
  const encounterEntry = (i: number, status = 'finished'): BundleEntry => ({
    resource: {
      resourceType: 'Encounter',
      status,
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
      subject: { reference: 'urn:uuid:6b0c2b8e-1c51-4b4e-9a36-0f4f2a7f3c11' },
      period: { start: `${dayOf(i)}T09:00:00Z`, end: `${dayOf(i)}T09:30:00Z` },
    } as Encounter,
    request: { method: 'POST', url: 'Encounter' },
  });

  it('posts a transaction: urn:uuid references resolved, a conditional create, responses in request order', async () => {
    const response = await transaction([patientEntry('A-1'), ...Array.from({ length: ENCOUNTERS }, (_, i) => encounterEntry(i))]);
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(Array.from({ length: ENCOUNTERS + 1 }, () => '201 Created'));
    patientId = response.entry![0].response!.location!.match(/Patient\/([^/]+)/)![1];
    const encounter = (await client.read({ resourceType: 'Encounter', id: response.entry![1].response!.location!.match(/Encounter\/([^/]+)/)![1] })) as unknown as Encounter;
    expect(encounter.subject?.reference).toBe(`Patient/${patientId}`);
    // The same Patient again: ifNoneExist finds it and nothing new is made.
    const again = await transaction([patientEntry('A-1')]);
    expect(again.entry?.[0].response?.status).toBe('200 OK');
    expect(again.entry?.[0].response?.location).toContain(`Patient/${patientId}`);
  });

  it('searches and pages with the server\'s next and previous links: each match once, in order, the patient included', async () => {
    const pages: Bundle[] = [];
    let page: Bundle | undefined = await asBundle(
      client.search({ resourceType: 'Encounter', searchParams: { patient: patientId, _sort: 'date', _count: 5, _include: 'Encounter:subject' } }),
    );
    while (page) {
      pages.push(page);
      expect(resources<Patient>(page, 'include').map((p) => p.id)).toEqual([patientId]);
      const next = client.nextPage({ bundle: page as unknown as PagedBundle });
      page = next && (await asBundle(next));
    }
    expect(pages).toHaveLength(Math.ceil(ENCOUNTERS / 5));
    const starts = pages.flatMap((p) => resources<Encounter>(p).map((e) => e.period!.start!));
    expect(starts).toEqual(Array.from({ length: ENCOUNTERS }, (_, i) => `${dayOf(i)}T09:00:00Z`).sort());
    expect(new Set(pages.flatMap((p) => resources<Encounter>(p).map((e) => e.id))).size).toBe(ENCOUNTERS);
    const back = await asBundle(client.prevPage({ bundle: pages[pages.length - 1] as unknown as PagedBundle }));
    expect(resources<Encounter>(back).map((e) => e.id)).toEqual(resources<Encounter>(pages[pages.length - 2]).map((e) => e.id));
  });

  it('searches by a date range, by POST _search and in the patient compartment', async () => {
    const [from, to] = ['2025-02-01', '2025-03-01'];
    const expected = Array.from({ length: ENCOUNTERS }, (_, i) => dayOf(i)).filter((d) => d >= from && d < to).sort().reverse();
    expect(expected.length).toBeGreaterThan(2);
    const byDate = await asBundle(client.search({ resourceType: 'Encounter', searchParams: { date: [`ge${from}`, `lt${to}`], _sort: '-date' } }));
    expect(resources<Encounter>(byDate).map((e) => e.period!.start!.slice(0, 10))).toEqual(expected);
    const posted = await asBundle(client.search({
      resourceType: 'Patient',
      searchParams: { identifier: `${MRN}|A-1`, _revinclude: 'Encounter:subject', _count: 100 },
      options: { postSearch: true },
    }));
    expect(resources<Patient>(posted).map((p) => p.id)).toEqual([patientId]);
    expect(resources<Encounter>(posted, 'include')).toHaveLength(ENCOUNTERS);
    const compartment = await asBundle(client.search({
      resourceType: 'Encounter',
      compartment: { resourceType: 'Patient', id: patientId },
      searchParams: { _count: 100, _summary: 'count' },
    }));
    expect(compartment.total).toBe(ENCOUNTERS);
  });

  it('a transaction with one bad entry fails whole: the client gets the OperationOutcome and nothing is written', async () => {
    const failure = await transaction([patientEntry('B-1'), encounterEntry(0), encounterEntry(1, 'not-a-status')]).then(
      () => undefined,
      (e: { response?: { status: number; data: OperationOutcome } }) => e.response,
    );
    expect(failure?.status).toBe(400);
    expect(failure?.data.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(failure?.data.issue)).toContain('not-a-status');
    const found = await asBundle(client.search({ resourceType: 'Patient', searchParams: { identifier: `${MRN}|B-1`, _summary: 'count' } }));
    expect(found.total).toBe(0);
    const encounters = await asBundle(client.search({ resourceType: 'Encounter', searchParams: { _summary: 'count' } }));
    expect(encounters.total).toBe(ENCOUNTERS);
  });

  it('posts a batch: entries stand alone, each with its own response', async () => {
    const response = await asBundle(client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Batchkit' }] }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/does-not-exist' } },
          { request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${MRN}|A-1`)}` } },
        ],
      },
    }));
    expect(response.type).toBe('batch-response');
    expect(response.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '404', '200']);
    expect(resources<Patient>(response.entry![2].resource as Bundle).map((p) => p.id)).toEqual([patientId]);
  });
});
