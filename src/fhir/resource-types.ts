import { loadStructureDefinitions } from './validation/definitions.js';

/**
 * The concrete R4 resource types, from the official StructureDefinitions (not Medplum's additions nor the R4B
 * SubscriptionStatus). They come from the same one-time load that the validator indexes.
 */
export function r4ResourceTypes(): ReadonlySet<string> {
  return loadStructureDefinitions();
}

export function isR4ResourceType(type: string): boolean {
  return r4ResourceTypes().has(type);
}
