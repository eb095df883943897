import { getAllDataTypes } from '@medplum/core';
import type { Constraint } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * Invariants checked in plain code instead of FHIRPath. ext-1 holds on every extension and dom-2/4/5 on every
 * resource, and Medplum evaluates each through its FHIRPath engine (ext-1 walks all fifty `value[x]` types):
 * together a good share of the validation time of a typical write. Their rules are simple enough to state
 * exactly here; they are removed from Medplum's schemas so that each is checked once.
 */
const HOT_INVARIANT_KEYS = ['ext-1', 'dom-2', 'dom-4', 'dom-5'] as const;
type HotInvariantKey = (typeof HOT_INVARIANT_KEYS)[number];

const hotInvariants = new Map<HotInvariantKey, Constraint>();

/** Takes the hot invariants out of Medplum's loaded schemas, keeping their texts for our messages. */
export function takeOverHotInvariants(): void {
  const isHot = (c: Constraint): boolean => {
    if (!(HOT_INVARIANT_KEYS as readonly string[]).includes(c.key)) return false;
    if (!hotInvariants.has(c.key as HotInvariantKey)) hotInvariants.set(c.key as HotInvariantKey, c);
    return true;
  };
  for (const schema of Object.values(getAllDataTypes())) {
    if (schema.constraints?.some(isHot)) schema.constraints = schema.constraints.filter((c) => !isHot(c));
    for (const element of Object.values(schema.elements)) {
      if (element.constraints?.some(isHot)) element.constraints = element.constraints.filter((c) => !isHot(c));
    }
  }
  for (const key of HOT_INVARIANT_KEYS) {
    if (!hotInvariants.has(key)) throw new Error(`Invariant ${key} not found in the R4 definitions`);
  }
}

/** ext-1: an extension has either nested extensions or a value, never both and never neither. */
export function checkExtensionInvariant(extension: Record<string, unknown>, path: () => string, issues: OperationOutcomeIssue[]): void {
  const nested = extension.extension;
  const hasExtensions = Array.isArray(nested) ? nested.length > 0 : nested !== undefined && nested !== null;
  let hasValue = false;
  for (const key in extension) {
    if (key.length > 5 && key.startsWith('value') && extension[key] !== undefined && extension[key] !== null) {
      hasValue = true;
      break;
    }
  }
  if (hasExtensions === hasValue) issues.push(invariantIssue('ext-1', path()));
}

/** dom-2, dom-4, dom-5: what a contained resource may not carry. */
export function checkContainedInvariants(resource: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
  const contained = resource.contained;
  if (!Array.isArray(contained) || contained.length === 0) return;
  const present = (value: unknown): boolean => value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
  let nestedContained = false;
  let versioned = false;
  let labelled = false;
  for (const inner of contained) {
    if (typeof inner !== 'object' || inner === null) continue;
    const { contained: innerContained, meta } = inner as { contained?: unknown; meta?: Record<string, unknown> };
    if (present(innerContained)) nestedContained = true;
    if (typeof meta === 'object' && meta !== null) {
      if (present(meta.versionId) || present(meta.lastUpdated)) versioned = true;
      if (present(meta.security)) labelled = true;
    }
  }
  if (nestedContained) issues.push(invariantIssue('dom-2', path));
  if (versioned) issues.push(invariantIssue('dom-4', path));
  if (labelled) issues.push(invariantIssue('dom-5', path));
}

/** Same wording as the invariants Medplum reports itself. */
function invariantIssue(key: HotInvariantKey, expression: string): OperationOutcomeIssue {
  const constraint = hotInvariants.get(key);
  return {
    severity: 'error',
    code: 'invariant',
    diagnostics: `Constraint ${key} not met: ${constraint?.description} (rule: ${constraint?.expression})`,
    expression: [expression],
  };
}
