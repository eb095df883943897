/**
 * How long validation takes on the write path. Not a test: run `npx tsx test/fhir/validation/measure-validation.ts`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkBindingsAndInvariants } from '../../../src/fhir/validation/walk.js';
import { loadStructureDefinitions } from '../../../src/fhir/validation/definitions.js';
import { loadValidationDefinitions, validateResource } from '../../../src/fhir/validation/validate.js';
import { SYNTHEA_DIR, officialExample, telehealthAppointment, telehealthEncounter } from './fixtures.js';

const started = performance.now();
loadValidationDefinitions();
console.log(`loadValidationDefinitions: ${(performance.now() - started).toFixed(0)} ms (first call)`);

const syntheaPatient = JSON.parse(readFileSync(join(SYNTHEA_DIR, 'Patient.000.ndjson'), 'utf8').split('\n')[0]);
const cases: [string, Record<string, any>][] = [
  ['Patient (official example)', officialExample('Patient-example.json')],
  ['Patient (Synthea, US Core)', syntheaPatient],
  ['Appointment (product shape)', telehealthAppointment()],
  ['Encounter (product shape)', telehealthEncounter()],
];

const resourceTypes = loadStructureDefinitions();
const microseconds = (fn: () => void, iterations: number): number => {
  for (let i = 0; i < 500; i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  return ((performance.now() - start) * 1000) / iterations;
};

for (const [label, resource] of cases) {
  const json = JSON.stringify(resource);
  const total = microseconds(() => validateResource(JSON.parse(json)), 5000);
  const parseOnly = microseconds(() => JSON.parse(json), 5000);
  const bindings = microseconds(() => checkBindingsAndInvariants(resource, resourceTypes), 5000);
  console.log(
    `${label.padEnd(30)} ${(json.length / 1024).toFixed(1).padStart(5)} KiB  validate ${(total - parseOnly).toFixed(1)} µs` +
      `  (of which bindings + hot invariants ${bindings.toFixed(1)} µs)`,
  );
}
