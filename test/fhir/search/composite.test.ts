import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import type { FhirRepository } from '../../../src/fhir/repository/repository.js';
import { OperationOutcomeError } from '../../../src/fhir/outcomes.js';
import { reindex } from '../../../src/fhir/maintenance/reindex.js';
import { executeSearch, extractIndexes, parseSearchRequest, writeIndexRows } from '../../../src/fhir/search/index.js';
import { isCompilableComposite } from '../../../src/fhir/search/extract.js';
import { allResourceTypes, searchParamsOf } from '../../../src/fhir/search/parameters.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { loadAll, searchRepository } from './synthea.js';

const ctx = { orgId: 'org-c', baseUrl: 'http://fhir.test/fhir' };
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const loinc = (code: string) => ({ coding: [{ system: LOINC, code }] });
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });

/** A blood pressure panel: systolic (8480-6) and diastolic (8462-4) as two components. */
const bp = (id: string, systolic: number, diastolic: number): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: loinc('85354-9'),
  component: [
    { code: loinc('8480-6'), valueQuantity: mmHg(systolic) },
    { code: loinc('8462-4'), valueQuantity: mmHg(diastolic) },
  ],
});

const resources: Resource[] = [
  bp('bp-normal', 118, 76),
  bp('bp-high', 152, 96),
  // Systolic is low and diastolic high: "systolic > 100" must not match through the diastolic component.
  bp('bp-inverted', 90, 110),
  { resourceType: 'Observation', id: 'glucose', status: 'final', code: loinc('2339-0'), valueQuantity: { value: 6.3, system: UCUM, code: 'mmol/L' } },
  { resourceType: 'Observation', id: 'glucose-mg', status: 'final', code: loinc('2339-0'), valueQuantity: { value: 113, system: UCUM, code: 'mg/dL' } },
  {
    resourceType: 'Observation',
    id: 'smoker',
    status: 'final',
    code: loinc('72166-2'),
    valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '449868002' }] },
  },
  { resourceType: 'Observation', id: 'onset', status: 'final', code: loinc('11368-8'), valueDateTime: '2024-03-05' },
  { resourceType: 'Observation', id: 'note', status: 'final', code: loinc('8251-1'), valueString: 'Feels Much Better' },
  {
    resourceType: 'Group',
    id: 'g1',
    type: 'person',
    actual: true,
    characteristic: [
      { code: { text: 'gender', coding: [{ system: 'http://example.org/c', code: 'gender' }] }, valueCodeableConcept: { coding: [{ code: 'mixed' }] }, exclude: false },
      { code: { coding: [{ system: 'http://example.org/c', code: 'smoker' }] }, valueBoolean: true, exclude: false },
    ],
  },
  {
    resourceType: 'DocumentReference',
    id: 'doc2',
    status: 'current',
    content: [{ attachment: { url: 'http://example.org/doc2.pdf' } }],
    relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/doc1' } }],
  },
  {
    resourceType: 'MolecularSequence',
    id: 'seq',
    type: 'dna',
    coordinateSystem: 0,
    referenceSeq: { chromosome: { coding: [{ system: 'http://example.org/chr', code: '1' }] }, windowStart: 100, windowEnd: 200 },
    variant: [{ start: 120, end: 121 }, { start: 180, end: 190 }],
  },
];

const ids = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id!).sort();

describe('composite parameter definitions', () => {
  it('come from the R4 definitions, and every component of every composite compiles to a path walk', () => {
    const composites = allResourceTypes().flatMap((t) => [...searchParamsOf(t).values()].filter((p) => p.type === 'composite').map((p) => [t, p] as const));
    expect(composites.length).toBeGreaterThan(60);
    expect(composites.filter(([t, p]) => !isCompilableComposite(t, p)).map(([t, p]) => `${t}.${p.code}`)).toEqual([]);
    const cvq = searchParamsOf('Observation').get('component-code-value-quantity')!;
    expect(cvq.components!.map((c) => c.type)).toEqual(['token', 'quantity']);
  });

  it('store each component of each element with the element ordinal, and nothing for types without composites', () => {
    const rows = extractIndexes(bp('x', 120, 80)).composites!.filter((r) => r.param === 'component-code-value-quantity');
    expect(rows).toEqual(
      expect.arrayContaining([
        { param: 'component-code-value-quantity', elem: 0, part: 0, key: `|${LOINC}|8480-6` },
        expect.objectContaining({ elem: 0, part: 1, low: 119.5, high: 120.5, system: UCUM, code: 'mm[Hg]' }),
        { param: 'component-code-value-quantity', elem: 1, part: 0, key: `|${LOINC}|8462-4` },
        expect.objectContaining({ elem: 1, part: 1, low: 79.5, high: 80.5 }),
      ]),
    );
    expect(extractIndexes({ resourceType: 'Patient' }).composites).toBeUndefined();
    // combo-code-value-quantity reads the rows of code-value-quantity and component-code-value-quantity.
    expect(searchParamsOf('Observation').get('combo-code-value-quantity')!.storage).toEqual(['code-value-quantity', 'component-code-value-quantity']);
    expect(extractIndexes(bp('x', 120, 80)).composites!.filter((r) => r.param.startsWith('combo'))).toEqual([]);
  });
});

describe.each(testDatabaseKinds())('composite search on %s', (kind) => {
  let db: Database;
  let close: () => Promise<void>;
  let repo: FhirRepository;
  const search = async (type: string, query: Record<string, string | string[]>, strict = false) =>
    executeSearch(db, ctx, parseSearchRequest(type, query, { strict }));

  beforeAll(async () => {
    ({ db, close } = await createTestDatabase(kind));
    repo = searchRepository(db, ctx);
    await loadAll(repo, resources);
  }, 60_000);
  afterAll(async () => close?.());

  it('matches token and quantity within the same Observation.component, never across two', async () => {
    expect(ids(await search('Observation', { 'component-code-value-quantity': `${LOINC}|8480-6$gt100` }))).toEqual(['bp-high', 'bp-normal']);
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8462-4$ge96' }))).toEqual(['bp-high', 'bp-inverted']);
    expect(ids(await search('Observation', { 'component-code-value-quantity': `8480-6$lt100|${UCUM}|mm[Hg]` }))).toEqual(['bp-inverted']);
    expect(ids(await search('Observation', { 'component-code-value-quantity': `8480-6$lt100|${UCUM}|mmol/L` }))).toEqual([]);
    // Comma: alternatives of whole composite values. Repetition: all must hold.
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8480-6$118,8480-6$90' }))).toEqual(['bp-inverted', 'bp-normal']);
    expect(ids(await search('Observation', { 'component-code-value-quantity': ['8480-6$gt100', '8462-4$lt80'] }))).toEqual(['bp-normal']);
  });

  it('code-value-quantity reads the Observation itself; combo- reads the Observation and each component', async () => {
    expect(ids(await search('Observation', { 'code-value-quantity': `${LOINC}|2339-0$gt6|${UCUM}|mmol/L` }))).toEqual(['glucose']);
    expect(ids(await search('Observation', { 'code-value-quantity': '2339-0$ap110' }))).toEqual(['glucose-mg']);
    expect(ids(await search('Observation', { 'code-value-quantity': '8480-6$gt0' }))).toEqual([]);
    expect(ids(await search('Observation', { 'combo-code-value-quantity': ['8480-6$gt140'] }))).toEqual(['bp-high']);
    expect(ids(await search('Observation', { 'combo-code-value-quantity': '2339-0$le7,8462-4$110' }))).toEqual(['bp-inverted', 'glucose']);
  });

  it('matches concept, date and string values by their own rules', async () => {
    expect(ids(await search('Observation', { 'code-value-concept': `${LOINC}|72166-2$http://snomed.info/sct|449868002` }))).toEqual(['smoker']);
    expect(ids(await search('Observation', { 'code-value-concept': '72166-2$http://snomed.info/sct|000' }))).toEqual([]);
    expect(ids(await search('Observation', { 'code-value-date': '11368-8$2024-03' }))).toEqual(['onset']);
    expect(ids(await search('Observation', { 'code-value-date': '11368-8$gt2024-03-05' }))).toEqual([]);
    expect(ids(await search('Observation', { 'code-value-date': '11368-8$ge2024-03-05' }))).toEqual(['onset']);
    expect(ids(await search('Observation', { 'code-value-string': '8251-1$feels mu' }))).toEqual(['note']);
    expect(ids(await search('Observation', { 'code-value-string': '8251-1$better' }))).toEqual([]);
  });

  it('Group characteristic-value, DocumentReference relationship and three-part MolecularSequence coordinates', async () => {
    expect(ids(await search('Group', { 'characteristic-value': 'gender$mixed' }))).toEqual(['g1']);
    expect(ids(await search('Group', { 'characteristic-value': 'smoker$true' }))).toEqual(['g1']);
    // gender and true belong to two different characteristics
    expect(ids(await search('Group', { 'characteristic-value': 'gender$true' }))).toEqual([]);
    expect(ids(await search('DocumentReference', { relationship: 'DocumentReference/doc1$replaces' }))).toEqual(['doc2']);
    expect(ids(await search('DocumentReference', { relationship: 'DocumentReference/doc1$transforms' }))).toEqual([]);
    expect(ids(await search('MolecularSequence', { 'chromosome-variant-coordinate': '1$ge150$le200' }))).toEqual(['seq']);
    // start 120 and end 190 exist, but in different variants
    expect(ids(await search('MolecularSequence', { 'chromosome-variant-coordinate': '1$lt150$gt185' }))).toEqual([]);
    expect(ids(await search('MolecularSequence', { 'chromosome-window-coordinate': 'http://example.org/chr|1$100$200' }))).toEqual(['seq']);
  });

  it('supports :missing, and a $ inside a component escaped as \\$', async () => {
    expect(ids(await search('Observation', { 'code-value-quantity:missing': 'false' }))).toEqual(['glucose', 'glucose-mg']);
    expect(ids(await search('Observation', { 'combo-code-value-quantity:missing': 'true' }))).toEqual(['note', 'onset', 'smoker']);
    expect(ids(await search('Observation', { 'code-value-string': '8251-1$a\\$b' }))).toEqual([]);
  });

  it('answers 400 with an OperationOutcome for bad composite syntax and unsupported modifiers, strict or not', async () => {
    for (const [query, text] of [
      [{ 'component-code-value-quantity': '8480-6' }, 'takes 2 values separated by $'],
      [{ 'component-code-value-quantity': '8480-6$1$2' }, 'takes 2 values separated by $'],
      [{ 'component-code-value-quantity': '8480-6$' }, 'takes 2 values separated by $'],
      [{ 'component-code-value-quantity': '8480-6$abc' }, 'Invalid number abc'],
      [{ 'code-value-date': '11368-8$yesterday' }, 'Invalid date'],
      [{ 'component-code-value-quantity:exact': '8480-6$1' }, 'Modifier :exact is not supported'],
      [{ _sort: 'code-value-quantity' }, 'Cannot sort by the composite parameter'],
    ] as const) {
      for (const strict of [false, true]) {
        const err = await search('Observation', query, strict).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OperationOutcomeError);
        expect((err as OperationOutcomeError).status).toBe(400);
        expect((err as OperationOutcomeError).outcome.issue![0].diagnostics).toContain(text);
      }
    }
  });

  it('keeps composite rows in step with updates and deletes, and reindex rebuilds them for existing rows', async () => {
    await repo.update(bp('bp-normal', 160, 70));
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8480-6$gt140' }))).toEqual(['bp-high', 'bp-normal']);
    await repo.update(bp('bp-normal', 118, 76));
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8480-6$gt140' }))).toEqual(['bp-high']);

    // Rows indexed before composite parameters existed: no composite rows and an older index version.
    await db.query('DELETE FROM fhir_search_composite');
    await db.query('UPDATE fhir_resources SET index_version = 1');
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8480-6$gt140' }))).toEqual([]);
    await reindex({ db, deps: { extractIndexes, writeIndexRows } });
    expect(ids(await search('Observation', { 'component-code-value-quantity': '8480-6$gt140' }))).toEqual(['bp-high']);
    expect(ids(await search('Group', { 'characteristic-value': 'gender$mixed' }))).toEqual(['g1']);

    await repo.delete('Observation', 'bp-high');
    const left = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM fhir_search_composite WHERE id = 'bp-high'`);
    expect(left.rows[0].n).toBe(0);
  });
});
