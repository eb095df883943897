import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, CodeSystem, Encounter, OperationOutcome, Patient, Resource, ValueSet } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import { OperationOutcomeError } from '../../../src/fhir/outcomes.js';
import { executeSearch, parseSearchRequest } from '../../../src/fhir/search/index.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { loadAll, searchRepository } from './synthea.js';

const ctx = { orgId: 'org-t', baseUrl: 'http://fhir.test/fhir' };
const CARE = 'http://example.org/cs/care';
const SNOMED = 'http://snomed.info/sct';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/** visit > virtual > (video, phone); visit > in-person */
const careCodes: CodeSystem = {
  resourceType: 'CodeSystem',
  id: 'care',
  url: CARE,
  status: 'active',
  content: 'complete',
  concept: [
    {
      code: 'visit',
      concept: [{ code: 'virtual', concept: [{ code: 'video' }, { code: 'phone' }] }, { code: 'in-person' }],
    },
  ],
};

const valueSet = (id: string, rest: Partial<ValueSet>): ValueSet => ({ resourceType: 'ValueSet', id, url: `http://example.org/vs/${id}`, status: 'active', ...rest });

const encounter = (id: string, system: string, code: string, cls = 'AMB'): Encounter => ({
  resourceType: 'Encounter',
  id,
  status: 'finished',
  class: { system: ACT, code: cls },
  type: [{ coding: [{ system, code }] }],
});

const resources: Resource[] = [
  careCodes,
  valueSet('remote', { compose: { include: [{ system: CARE, filter: [{ property: 'concept', op: 'is-a', value: 'virtual' }] }] } }),
  valueSet('listed', { expansion: { timestamp: '2024-01-01T00:00:00Z', contains: [{ system: CARE, code: 'phone' }, { system: SNOMED, code: '185347001' }] } }),
  valueSet('any-snomed', { compose: { include: [{ system: SNOMED }] } }),
  valueSet('not-in-person', { compose: { include: [{ system: CARE }], exclude: [{ system: CARE, concept: [{ code: 'in-person' }] }] } }),
  valueSet('unsupported-filter', { compose: { include: [{ system: CARE, filter: [{ property: 'status', op: '=', value: 'active' }] }] } }),
  encounter('e-video', CARE, 'video'),
  encounter('e-phone', CARE, 'phone'),
  encounter('e-virtual', CARE, 'virtual'),
  encounter('e-in-person', CARE, 'in-person', 'IMP'),
  encounter('e-snomed', SNOMED, '185347001', 'EMER'),
  { resourceType: 'Patient', id: 'p-female', gender: 'female' } as Patient,
  { resourceType: 'Patient', id: 'p-male', gender: 'male' } as Patient,
  { resourceType: 'Patient', id: 'p-none' } as Patient,
];

const ids = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id!).sort();
const warnings = (b: Bundle) =>
  (b.entry ?? []).filter((e) => e.search?.mode === 'outcome').flatMap((e) => (e.resource as OperationOutcome).issue!.map((i) => i.expression));

describe.each(testDatabaseKinds())('token :in, :not-in, :below, :above and uri :below, :above on %s', (kind) => {
  let db: Database;
  let close: () => Promise<void>;
  const search = async (type: string, query: Record<string, string | string[]>, strict = false) =>
    executeSearch(db, ctx, parseSearchRequest(type, query, { strict }));
  const failure = async (type: string, query: Record<string, string>, strict: boolean) => {
    const err = await search(type, query, strict).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationOutcomeError);
    return err as OperationOutcomeError;
  };

  beforeAll(async () => {
    ({ db, close } = await createTestDatabase(kind));
    await loadAll(searchRepository(db, ctx), resources);
    // The same ValueSet URL in another organisation is not visible here.
    await loadAll(searchRepository(db, { ...ctx, orgId: 'org-other' }), [valueSet('elsewhere', {})]);
  }, 60_000);
  afterAll(async () => close?.());

  it(':in and :not-in expand the organisation\'s ValueSets: compose filters, expansions, whole systems, excludes', async () => {
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/remote' }))).toEqual(['e-phone', 'e-video', 'e-virtual']);
    expect(ids(await search('Encounter', { 'type:not-in': 'http://example.org/vs/remote' }))).toEqual(['e-in-person', 'e-snomed']);
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/listed' }))).toEqual(['e-phone', 'e-snomed']);
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/any-snomed' }))).toEqual(['e-snomed']);
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/not-in-person' }))).toEqual(['e-phone', 'e-video', 'e-virtual']);
    // A version suffix, a relative reference, and a comma as OR between value sets.
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/any-snomed|1.0' }))).toEqual(['e-snomed']);
    expect(ids(await search('Encounter', { 'type:in': 'ValueSet/any-snomed' }))).toEqual(['e-snomed']);
    expect(ids(await search('Encounter', { 'type:in': 'http://example.org/vs/any-snomed,http://example.org/vs/listed' }))).toEqual(['e-phone', 'e-snomed']);
  });

  it(':in uses the official R4 value sets, also for plain code elements that carry no system', async () => {
    expect(ids(await search('Patient', { 'gender:in': 'http://hl7.org/fhir/ValueSet/administrative-gender' }))).toEqual(['p-female', 'p-male']);
    expect(ids(await search('Patient', { 'gender:not-in': 'http://hl7.org/fhir/ValueSet/administrative-gender' }))).toEqual(['p-none']);
    expect(ids(await search('Encounter', { 'class:in': 'http://terminology.hl7.org/ValueSet/v3-ActEncounterCode' }))).toEqual(
      ['e-in-person', 'e-phone', 'e-snomed', 'e-video', 'e-virtual'],
    );
  });

  it(':below and :above follow the code system hierarchy, stored or official', async () => {
    expect(ids(await search('Encounter', { 'type:below': `${CARE}|virtual` }))).toEqual(['e-phone', 'e-video', 'e-virtual']);
    expect(ids(await search('Encounter', { 'type:below': `${CARE}|visit` }))).toEqual(['e-in-person', 'e-phone', 'e-video', 'e-virtual']);
    expect(ids(await search('Encounter', { 'type:above': `${CARE}|video` }))).toEqual(['e-video', 'e-virtual']);
    expect(ids(await search('Encounter', { 'type:above': `${CARE}|in-person` }))).toEqual(['e-in-person']);
    expect(ids(await search('Encounter', { 'class:below': `${ACT}|_ActEncounterCode` }))).toEqual(['e-in-person', 'e-phone', 'e-snomed', 'e-video', 'e-virtual']);
    expect(ids(await search('Encounter', { 'class:below': `${ACT}|EMER` }))).toEqual(['e-snomed']);
  });

  it('uri :below and :above compare URL prefixes', async () => {
    expect(ids(await search('ValueSet', { 'url:below': 'http://example.org/vs/' }))).toEqual(['any-snomed', 'listed', 'not-in-person', 'remote', 'unsupported-filter']);
    expect(ids(await search('ValueSet', { 'url:above': 'http://example.org/vs/remote/_history/2' }))).toEqual(['remote']);
  });

  it('an unknown ValueSet is a 400 with an OperationOutcome, under lenient and strict handling alike', async () => {
    for (const strict of [false, true]) {
      for (const url of ['http://example.org/vs/nope', 'http://example.org/vs/elsewhere', 'ValueSet/nope']) {
        const err = await failure('Encounter', { 'type:in': url }, strict);
        expect(err.status).toBe(400);
        expect(err.outcome.issue![0]).toMatchObject({ severity: 'error', code: 'not-found', diagnostics: `Unknown ValueSet ${url}` });
      }
    }
  });

  it('what cannot be evaluated is a 400 under handling=strict and ignored with a warning under lenient', async () => {
    const cases: Record<string, string>[] = [
      { 'type:below': `${SNOMED}|185347001` },
      { 'type:above': 'video' },
      { 'type:in': 'http://example.org/vs/unsupported-filter' },
    ];
    for (const query of cases) {
      const key = Object.keys(query)[0];
      const err = await failure('Encounter', query, true);
      expect(err.status).toBe(400);
      expect(err.outcome.issue![0]).toMatchObject({ code: 'not-supported', expression: [key] });
      const lenient = await search('Encounter', { ...query, status: 'finished' });
      expect(ids(lenient)).toHaveLength(5);
      expect(warnings(lenient)).toEqual([[key]]);
      expect(lenient.link!.find((l) => l.relation === 'self')!.url).not.toContain(encodeURIComponent(key));
    }
    // Modifiers that do not exist for a type are rejected as before.
    expect((await failure('Patient', { 'birthdate:below': '2000' }, false)).status).toBe(400);
    // _id is a column, compared as it is: only :not and :missing.
    expect((await failure('Patient', { '_id:in': 'http://example.org/vs/remote' }, false)).status).toBe(400);
  });
});
