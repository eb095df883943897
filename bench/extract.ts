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

function load(type: string, n: number): Resource[] {
  return readFileSync(`${dir}/${type}.000.ndjson`, 'utf8').split('\n').filter(Boolean).slice(0, n).map((l) => JSON.parse(l));
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
];
const rows: string[][] = [];
const slowExpressions: string[] = [];
for (const [type, resources] of sets) {
  const slow = [...searchParamsOf(type).values()].flatMap((p) => p.expressionParts.filter((e) => !isFastPath(e)));
  slowExpressions.push(`- ${type}: ${slow.join(' ; ') || 'none'}`);
  // resolve() needs an asynchronous resolver in the engine, so those expressions are left out of the comparison.
  const exprs = [...searchParamsOf(type).values()].map((p) => p.expression).filter((e) => !e.includes('resolve('));
  const compiled = exprs.map((e) => fhirpath.compile(e, r4Model));
  const atoms = exprs.map((e) => parseFhirPath(e));
  rows.push([
    type,
    time(resources, extractIndexes),
    time(resources, (r) => compiled.map((f) => f(r)), 300),
    time(resources, (r) => atoms.map((a) => evalFhirPath(a, r)), 300),
  ]);
}
console.log('\n## Search value extraction, µs per resource\n');
console.log(markdownTable(['type', 'extractIndexes', 'fhirpath engine (expressions only)', '@medplum/core (expressions only)'], rows));
console.log(`\nExpressions evaluated by the engine rather than the path walk:\n${slowExpressions.join('\n')}`);
