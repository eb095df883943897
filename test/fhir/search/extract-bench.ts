/**
 * Measures extraction time per resource on the Synthea fixtures (run: npx tsx test/fhir/search/extract-bench.ts).
 * Extraction is on the write path; this keeps an eye on its cost, and compares the path walk with the
 * general FHIRPath engines it replaces for plain paths.
 */
import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import { evalFhirPath, parseFhirPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexes, isFastPath } from '../../../src/fhir/search/extract.js';
import { searchParamsOf } from '../../../src/fhir/search/parameters.js';

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

function time(label: string, resources: Resource[], fn: (r: Resource) => unknown, rounds = 2000): void {
  for (let i = 0; i < 3000; i++) fn(resources[i % resources.length]);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn(resources[i % resources.length]);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / rounds;
  console.log(`${label.padEnd(40)} ${us.toFixed(1)} µs/resource`);
}

const sets: [string, Resource[]][] = [
  ['Patient', load('Patient', 10)],
  ['Encounter', load('Encounter', 200)],
  ['Appointment', [appointment]],
];
for (const [type, resources] of sets) {
  const slow = [...searchParamsOf(type).values()].flatMap((p) => p.expressionParts.filter((e) => !isFastPath(e)));
  console.log(`${type}: engine-evaluated expressions: ${slow.join(' ; ') || 'none'}`);
  time(`${type} extractIndexes`, resources, extractIndexes);
  // resolve() needs an asynchronous resolver in the engine, so those expressions are left out of the comparison.
  const exprs = [...searchParamsOf(type).values()].map((p) => p.expression).filter((e) => !e.includes('resolve('));
  const compiled = exprs.map((e) => fhirpath.compile(e, r4Model));
  time(`${type} fhirpath engine (expressions only)`, resources, (r) => compiled.map((f) => f(r)), 300);
  const atoms = exprs.map((e) => parseFhirPath(e));
  time(`${type} @medplum/core (expressions only)`, resources, (r) => atoms.map((a) => evalFhirPath(a, r)), 300);
}
