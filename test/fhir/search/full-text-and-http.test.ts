import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, CapabilityStatement, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { searchParamsForCapabilityStatement } from '../../../src/fhir/search/parameters.js';
import { fullTextTerms } from '../../../src/fhir/search/sql.js';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';

const ids = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id!).sort();

describe('what the CapabilityStatement advertises for search', () => {
  it('lists composite parameters with their components, the modifiers that work, and _content/_text', () => {
    const obs = searchParamsForCapabilityStatement('Observation');
    const cvq = obs.find((p) => p.name === 'component-code-value-quantity')!;
    expect(cvq).toMatchObject({ type: 'composite', definition: 'http://hl7.org/fhir/SearchParameter/Observation-component-code-value-quantity' });
    expect(cvq.documentation).toContain('Components, separated by $: component-code (token) $ component-value-quantity (quantity)');
    expect(obs.find((p) => p.name === 'code')!.documentation).toContain('Modifiers: :not, :text, :missing, :in, :not-in, :below, :above.');
    expect(obs.find((p) => p.name === '_content')?.type).toBe('string');
    expect(searchParamsForCapabilityStatement('Patient').find((p) => p.name === 'identifier')!.documentation).toContain(':of-type');
    expect(searchParamsForCapabilityStatement('Group').map((p) => p.name)).toContain('characteristic-value');
    expect(obs.find((p) => p.name === '_id')!.documentation).toContain('Modifiers: :not, :missing.');
    expect(searchParamsForCapabilityStatement('Bundle').map((p) => p.name)).not.toContain('_text');
  });

  it('splits _content/_text values into words and quoted phrases', () => {
    expect(fullTextTerms('chest  "short of breath" pain')).toEqual(['chest', 'short of breath', 'pain']);
  });
});

describe.each(testDatabaseKinds())('search over HTTP on %s', (kind) => {
  let server: TestServer;
  const get = async (url: string, headers: Record<string, string> = {}) => server.app.inject({ method: 'GET', url, headers });

  beforeAll(async () => {
    server = await createTestServer(kind);
    const put = (r: Patient | Observation) =>
      server.app.inject({ method: 'PUT', url: `/fhir/${r.resourceType}/${r.id}`, payload: r, headers: { 'content-type': 'application/fhir+json' } });
    await put({
      resourceType: 'Patient',
      id: 'ft-1',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><b>Alice</b> reports <i>shortness</i> of breath</div>' },
      name: [{ family: 'Quigleyfield', given: ['Alice'] }],
    });
    await put({ resourceType: 'Patient', id: 'ft-2', name: [{ family: 'Quigleyfield', given: ['Bob'] }], address: [{ city: 'Shortness Falls' }] });
    await put({
      resourceType: 'Observation',
      id: 'ft-bp',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      subject: { reference: 'Patient/ft-1' },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 150, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 90, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      ],
    });
  }, 120_000);
  afterAll(async () => server?.close());

  it('_content matches words in any text of the resource, _text only the narrative without its markup', async () => {
    const content = (await get('/fhir/Patient?family=Quigleyfield&_content=SHORTNESS')).json() as Bundle;
    expect(ids(content)).toEqual(['ft-1', 'ft-2']);
    expect(ids((await get('/fhir/Patient?family=Quigleyfield&_content=bob%20falls')).json())).toEqual(['ft-2']);
    expect(ids((await get('/fhir/Patient?family=Quigleyfield&_text=shortness')).json())).toEqual(['ft-1']);
    expect(ids((await get('/fhir/Patient?family=Quigleyfield&_text=%22alice%20reports%22')).json())).toEqual(['ft-1']);
    // "b" and "i" are markup, not narrative text
    expect(ids((await get('/fhir/Patient?family=Quigleyfield&_text=xhtml')).json())).toEqual([]);
    expect(ids((await get('/fhir/Patient?family=Quigleyfield&_content=nowhere')).json())).toEqual([]);
  });

  it('composite search and its errors through GET and POST _search', async () => {
    const q = encodeURIComponent('http://loinc.org|8480-6$gt140');
    expect(ids((await get(`/fhir/Observation?component-code-value-quantity=${q}`)).json())).toEqual(['ft-bp']);
    const posted = await server.app.inject({
      method: 'POST',
      url: '/fhir/Observation/_search',
      payload: `component-code-value-quantity=${encodeURIComponent('8462-4$gt140')}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(ids(posted.json())).toEqual([]);
    const bad = await get(`/fhir/Observation?component-code-value-quantity=8480-6`);
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as OperationOutcome).issue![0]).toMatchObject({ severity: 'error', code: 'invalid', expression: ['component-code-value-quantity'] });
  });

  it('Prefer: handling=strict turns what the server cannot evaluate into a 400; lenient ignores and reports it', async () => {
    const url = `/fhir/Observation?code:below=${encodeURIComponent('http://loinc.org|85354-9')}`;
    const strict = await get(url, { prefer: 'handling=strict' });
    expect(strict.statusCode).toBe(400);
    expect((strict.json() as OperationOutcome).issue![0]).toMatchObject({ code: 'not-supported', expression: ['code:below'] });
    const lenient = await get(url, { prefer: 'handling=lenient' });
    expect(lenient.statusCode).toBe(200);
    const entries = (lenient.json() as Bundle).entry ?? [];
    expect(entries.find((e) => e.search?.mode === 'outcome')?.resource).toMatchObject({ issue: [{ severity: 'warning', expression: ['code:below'] }] });
    const unknownVs = await get(`/fhir/Observation?code:in=${encodeURIComponent('http://example.org/ValueSet/none')}`);
    expect(unknownVs.statusCode).toBe(400);
    expect((unknownVs.json() as OperationOutcome).issue![0]).toMatchObject({ code: 'not-found' });
  });

  it('/metadata advertises composite parameters', async () => {
    const cs = (await get('/fhir/metadata')).json() as CapabilityStatement;
    const obs = cs.rest![0].resource!.find((r) => r.type === 'Observation')!;
    expect(obs.searchParam!.find((p) => p.name === 'code-value-quantity')?.type).toBe('composite');
  });
});
