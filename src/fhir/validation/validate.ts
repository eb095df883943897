import { OperationOutcomeError as MedplumOutcomeError, validateResource as validateStructure } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, badRequest } from '../outcomes.js';
import { loadStructureDefinitions } from './definitions.js';
import { passesStructureQuickly } from './quick-structure.js';
import { checkBindingsAndInvariants } from './walk.js';

/** Loads the R4 definitions once (idempotent, synchronous or cheap after the first call). */
export function loadValidationDefinitions(): void {
  loadStructureDefinitions();
}

/** Throws OperationOutcomeError (status 400) listing every problem; returns the resource typed when valid. */
export function validateResource(resource: unknown): Resource {
  const resourceTypes = loadStructureDefinitions();
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw badRequest('A FHIR resource must be a JSON object');
  }
  const resourceType = (resource as { resourceType?: unknown }).resourceType;
  if (resourceType === undefined) throw badRequest('The resource has no resourceType', 'resourceType');
  if (typeof resourceType !== 'string' || !resourceTypes.has(resourceType)) {
    throw badRequest(`Unknown resource type ${JSON.stringify(resourceType)}`, 'resourceType');
  }

  // Medplum's validator judges whatever the quick check cannot vouch for, and words every error.
  const structural = passesStructureQuickly(resource as Record<string, unknown>) ? [] : structuralIssues(resource as Resource);
  const issues = [
    ...structural,
    ...checkBindingsAndInvariants(resource as Record<string, unknown>, resourceTypes),
  ];
  if (issues.some((issue) => issue.severity === 'error' || issue.severity === 'fatal')) {
    throw new OperationOutcomeError(400, { resourceType: 'OperationOutcome', issue: issues });
  }
  return resource as Resource;
}

/** Medplum throws when it finds an error and returns the warnings otherwise; either way we want the list. */
function structuralIssues(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateStructure(resource).map(toProductIssue);
  } catch (err) {
    if (err instanceof MedplumOutcomeError) return (err.outcome.issue ?? []).map(toProductIssue);
    // The validator walks whatever shape it is given; a value it cannot even walk is the caller's error.
    const message = err instanceof Error ? err.message : String(err);
    return [{ severity: 'error', code: 'structure', diagnostics: `The resource could not be read: ${message}` }];
  }
}

/**
 * Medplum puts the human text in `details.text` and a JSON blob (the failing FHIRPath) in `diagnostics`;
 * callers of this product read `diagnostics`, so the text moves there and the invariant's expression joins it.
 */
function toProductIssue(issue: OperationOutcomeIssue): OperationOutcomeIssue {
  let diagnostics = issue.details?.text ?? issue.diagnostics ?? 'Invalid resource';
  const fhirpath = parseFhirPathDetail(issue.diagnostics);
  if (fhirpath) diagnostics += ` (rule: ${fhirpath})`;
  const converted: OperationOutcomeIssue = { severity: issue.severity, code: issue.code, diagnostics };
  if (issue.expression?.length) converted.expression = issue.expression;
  return converted;
}

function parseFhirPathDetail(diagnostics: string | undefined): string | undefined {
  if (!diagnostics?.startsWith('{')) return undefined;
  try {
    const detail = JSON.parse(diagnostics) as { fhirpath?: unknown };
    return typeof detail.fhirpath === 'string' ? detail.fhirpath : undefined;
  } catch {
    return undefined;
  }
}
