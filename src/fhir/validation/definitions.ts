import { getDataType, indexStructureDefinitionBundle } from '@medplum/core';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { readCompactDefinitions, type CompactValueSet } from './compact-definitions.js';
import { takeOverHotInvariants } from './invariants.js';
import { toValueSetCodes, type ValueSetCodes } from './terminology.js';

/**
 * Invariants whose published R4 FHIRPath is wrong. app-4 in the R4 text tests `'no-show'` while the code is
 * `noshow`, so every no-show with a cancelation reason would be refused; R5 fixed the expression. Medplum's
 * bundled definitions carry the fix today; setting it here keeps no-shows storable whatever definitions are
 * installed.
 */
const CORRECTED_INVARIANTS: readonly { type: string; key: string; expression: string }[] = [
  {
    type: 'Appointment',
    key: 'app-4',
    expression: "Appointment.cancelationReason.exists() implies (Appointment.status='noshow' or Appointment.status='cancelled')",
  },
];

let concreteResourceTypes: ReadonlySet<string> | undefined;
let summaryElements: ReadonlyMap<string, ReadonlySet<string>> | undefined;
let requiredValueSets: Record<string, CompactValueSet | null> | undefined;
const requiredValueSetCodes = new Map<string, ValueSetCodes | null>();

/**
 * Indexes the R4 StructureDefinitions into Medplum's schema registry. That registry is global to the process,
 * so this runs once however many callers ask for it. The definitions are the compact ones the build prepares
 * (compact-definitions.ts); nothing of them but the indexed schemas and what is collected here stays in memory.
 */
export function loadStructureDefinitions(): ReadonlySet<string> {
  if (concreteResourceTypes) return concreteResourceTypes;
  const { types, resources, requiredValueSets: valueSets } = readCompactDefinitions();
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);
  correctInvariants();
  putCommonExtensionValueTypesFirst();
  takeOverHotInvariants();
  requiredValueSets = valueSets;
  summaryElements = collectSummaryElements(resources);
  concreteResourceTypes = collectConcreteResourceTypes(resources);
  return concreteResourceTypes;
}

/**
 * Top-level elements marked isSummary, per resource type (choice elements keep their `[x]`), for _summary.
 * Collected from the same load as the schemas.
 */
export function summaryElementsOf(resourceType: string): ReadonlySet<string> {
  loadStructureDefinitions();
  return summaryElements?.get(resourceType) ?? new Set();
}

/**
 * The codes of a value set that a required binding of the R4 definitions names. Undefined when it needs a
 * terminology server (refusing a code we cannot check would be a false error), or when no required binding
 * names it.
 */
export function requiredBindingCodes(canonical: string): ValueSetCodes | undefined {
  loadStructureDefinitions();
  const url = canonical.split('|')[0];
  let codes = requiredValueSetCodes.get(url);
  if (codes === undefined) {
    const stored = requiredValueSets?.[url];
    codes = stored ? toValueSetCodes(url, stored.name, new Map(Object.entries(stored.bySystem).map(([s, c]) => [s, new Set(c)]))) : null;
    requiredValueSetCodes.set(url, codes);
  }
  return codes ?? undefined;
}

function collectSummaryElements(sds: StructureDefinition[]): ReadonlyMap<string, ReadonlySet<string>> {
  const map = new Map<string, Set<string>>();
  for (const sd of sds) {
    if (sd.kind !== 'resource' || !sd.type) continue;
    const names = new Set<string>();
    for (const el of sd.snapshot?.element ?? []) {
      const parts = el.path?.split('.') ?? [];
      if (parts.length === 2 && el.isSummary) names.add(parts[1]);
    }
    map.set(sd.type, names);
  }
  return map;
}

/**
 * Medplum finds the JSON key of a choice element by trying its types in order, and `Extension.value[x]` has
 * fifty of them, tried for every extension (in the crawl and again in ext-1). Trying the usual ones first
 * makes extensions about a third cheaper; the set of allowed types does not change.
 */
const COMMON_EXTENSION_VALUE_TYPES = [
  'string', 'Coding', 'code', 'url', 'uri', 'boolean', 'CodeableConcept', 'Reference', 'dateTime', 'decimal',
  'integer', 'Identifier', 'Quantity', 'Period', 'date', 'instant', 'Address', 'canonical',
];

function putCommonExtensionValueTypesFirst(): void {
  const element = getDataType('Extension').elements['value[x]'];
  const rank = (code: string): number => {
    const index = COMMON_EXTENSION_VALUE_TYPES.indexOf(code);
    return index < 0 ? COMMON_EXTENSION_VALUE_TYPES.length : index;
  };
  element.type = [...element.type].sort((a, b) => rank(a.code) - rank(b.code));
}

function correctInvariants(): void {
  for (const correction of CORRECTED_INVARIANTS) {
    const constraint = getDataType(correction.type).constraints?.find((c) => c.key === correction.key);
    if (!constraint) throw new Error(`Invariant ${correction.key} of ${correction.type} not found in the R4 definitions`);
    constraint.expression = correction.expression;
  }
}

/**
 * Abstract types (Resource, DomainResource) have schemas too, but nobody may store one; and the bundle also
 * carries a later-version resource (SubscriptionStatus, 4.3.0) that is not part of R4.
 */
function collectConcreteResourceTypes(sds: StructureDefinition[]): ReadonlySet<string> {
  const names = new Set<string>();
  for (const sd of sds) {
    if (
      sd.kind === 'resource' &&
      !sd.abstract &&
      sd.derivation !== 'constraint' &&
      sd.fhirVersion === '4.0.1'
    ) {
      names.add(sd.type);
    }
  }
  return names;
}
