/**
 * Extraction time per resource on the Synthea fixtures (run: npx tsx bench/extract.ts). Extraction is on the
 * write path; this keeps an eye on its cost, and compares the path walk with the general FHIRPath engines it
 * replaces for plain paths. The write path as a whole (creates with and without indexing) is in bench/search.ts.
 */
import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import { evalFhirPath, parseFhirPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexes, isFastPath } from '../src/fhir/search/extract.js';
import { searchParamsOf } from '../src/fhir/search/parameters.js';
import { markdownTable } from './support/servers.js';

const dir = '/work/shared/fixtures/synthea-10-patients';
const appointment: Resource = {
  resourceType: 'Appointment',
  id: 'a1',
  status: 'booked',
  serviceType: [{ coding: [{ system: 'http://snomed.info/sct', code: '394814009' }] }],
  start: '2024-05-01T10:00:00Z',
  end: '2024-05-01T10:30:00Z',
  participant: [
    { actor: { reference: 'Patient/p1' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/d1' }, status: 'accepted' },
  ],
};

// The fixtures have no Observations; these two carry the composite parameters (code-value-quantity,
// component-code-value-quantity, combo-…) that most of the write cost of an Observation comes from.
const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });
const observations: Resource[] = [
  {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: loinc('85354-9'),
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-05-01T10:00:00Z',
    component: [
      { code: loinc('8480-6'), valueQuantity: mmHg(120) },
      { code: loinc('8462-4'), valueQuantity: mmHg(80) },
    ],
  },
  {
    resourceType: 'Observation',
    id: 'o2',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: loinc('2339-0'),
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-05-01T10:00:00Z',
    valueQuantity: { value: 6.3, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
  },
];

function load(type: string, n: number): Resource[] {
  return readFileSync(`${dir}/${type}.000.ndjson`, 'utf8').split('\n').filter(Boolean).slice(0, n).map((l) => JSON.parse(l));
}

/** Some official expressions fail on some resources (`Observation.component.value as Quantity` on two components). */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** Microseconds per resource, after a warm-up. */
function time(resources: Resource[], fn: (r: Resource) => unknown, rounds = 2000): string {
  for (let i = 0; i < 3000; i++) fn(resources[i % resources.length]);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn(resources[i % resources.length]);
  return (Number(process.hrtime.bigint() - t0) / 1000 / rounds).toFixed(1);
}

const sets: [string, Resource[]][] = [
  ['Patient', load('Patient', 10)],
  ['Encounter', load('Encounter', 200)],
  ['Appointment', [appointment]],
  ['Observation', observations],
];
const rows: string[][] = [];
const slowExpressions: string[] = [];
for (const [type, resources] of sets) {
  // Composite parameters are compiled per element and component (extract.ts), never by the engine.
  const plain = [...searchParamsOf(type).values()].filter((p) => p.type !== 'composite');
  const slow = plain.flatMap((p) => p.expressionParts.filter((e) => !isFastPath(e)));
  slowExpressions.push(`- ${type}: ${slow.join(' ; ') || 'none'}`);
  // resolve() needs an asynchronous resolver in the engine, so those expressions are left out of the comparison.
  const exprs = plain.map((p) => p.expression).filter((e) => !e.includes('resolve('));
  const compiled = exprs.map((e) => fhirpath.compile(e, r4Model));
  const atoms = exprs.map((e) => parseFhirPath(e));
  rows.push([
    type,
    time(resources, extractIndexes),
    time(resources, (r) => compiled.map((f) => attempt(() => f(r))), 300),
    time(resources, (r) => atoms.map((a) => attempt(() => evalFhirPath(a, r))), 300),
  ]);
}
console.log('\n## Search value extraction, µs per resource\n');
console.log(markdownTable(['type', 'extractIndexes', 'fhirpath engine (expressions only)', '@medplum/core (expressions only)'], rows));
console.log(`\nExpressions evaluated by the engine rather than the path walk:\n${slowExpressions.join('\n')}`);
