import { capitalize, isPrimitiveType, tryGetDataType } from '@medplum/core';
import type { InternalSchemaElement } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { BINDABLE_TYPES, checkRequiredBinding } from './bindings.js';
import { checkContainedInvariants, checkExtensionInvariant } from './invariants.js';

/**
 * The checks Medplum's validator does not make (required bindings) or makes slowly (the hot invariants), in
 * one walk over the JSON. The walk follows the data, not the schema, so its cost grows with what was sent.
 */

/** What to do with one JSON property of a type: check its code, walk into it, or both. */
interface PropertyRule {
  readonly type: string;
  /** The required value set, only for code, Coding and CodeableConcept elements. */
  readonly valueSet?: string;
  readonly walkInto: boolean;
}

type Rules = ReadonlyMap<string, PropertyRule>;

/** `_status` and friends hold the id and extensions of a primitive value. */
const PRIMITIVE_EXTENSION_RULE: PropertyRule = { type: 'Element', walkInto: true };

const rulesByType = new Map<string, Rules>();

/** A path as a stack of property names and array indexes, so the FHIRPath string is built only on failure. */
type Trail = (string | number)[];

interface Walk {
  readonly trail: Trail;
  readonly resourceTypes: ReadonlySet<string>;
  readonly issues: OperationOutcomeIssue[];
  readonly path: () => string;
}

export function checkBindingsAndInvariants(
  resource: Record<string, unknown>,
  resourceTypes: ReadonlySet<string>,
): OperationOutcomeIssue[] {
  const resourceType = resource.resourceType as string;
  const trail: Trail = [resourceType];
  const issues: OperationOutcomeIssue[] = [];
  const walk: Walk = { trail, resourceTypes, issues, path: () => toFhirPath(trail) };
  checkContainedInvariants(resource, resourceType, issues);
  walkObject(resource, resourceType, walk);
  return issues;
}

function walkObject(obj: Record<string, unknown>, typeName: string, walk: Walk): void {
  const rules = rulesFor(typeName);
  for (const key in obj) {
    const value = obj[key];
    if (value === null || value === undefined) continue;
    const rule = key.charCodeAt(0) === 95 /* '_' */ ? PRIMITIVE_EXTENSION_RULE : rules.get(key);
    if (!rule) continue;
    walk.trail.push(key);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        walk.trail.push(i);
        visitValue(value[i], rule, walk);
        walk.trail.pop();
      }
    } else {
      visitValue(value, rule, walk);
    }
    walk.trail.pop();
  }
}

function visitValue(value: unknown, rule: PropertyRule, walk: Walk): void {
  if (rule.valueSet) checkRequiredBinding(value, rule.type, rule.valueSet, walk.path, walk.issues);
  if (!rule.walkInto || typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  let typeName = rule.type;
  if (typeName === 'Extension') {
    checkExtensionInvariant(obj, walk.path, walk.issues);
  } else if (typeName === 'Resource') {
    // Contained resources and the like: the value names its own type.
    const resourceType = obj.resourceType;
    if (typeof resourceType !== 'string' || !walk.resourceTypes.has(resourceType)) return;
    typeName = resourceType;
  }
  walkObject(obj, typeName, walk);
}

function toFhirPath(trail: Trail): string {
  let path = '';
  for (const step of trail) path += typeof step === 'number' ? `[${step}]` : path ? `.${step}` : step;
  return path;
}

/**
 * The JSON properties of a type that matter here, built from its schema on first use. Choice elements are
 * spread to their JSON names (`value[x]` → `valueCodeableConcept`, …); plain primitives are left out.
 */
function rulesFor(typeName: string): Rules {
  let rules = rulesByType.get(typeName);
  if (rules) return rules;
  const built = new Map<string, PropertyRule>();
  const schema = tryGetDataType(typeName);
  for (const [name, element] of Object.entries(schema?.elements ?? {})) {
    if (name.endsWith('[x]')) {
      const base = name.slice(0, -3);
      for (const { code } of element.type) addRule(built, base + capitalize(code), code, element);
    } else if (element.type.length > 0) {
      addRule(built, name, element.type[0].code, element);
    }
  }
  rules = built;
  rulesByType.set(typeName, rules);
  return rules;
}

function addRule(rules: Map<string, PropertyRule>, jsonName: string, type: string, element: InternalSchemaElement): void {
  const binding = element.binding;
  const valueSet = binding?.strength === 'required' && BINDABLE_TYPES.has(type) ? binding.valueSet : undefined;
  const walkInto = !isPrimitiveType(type) && !type.startsWith('http://');
  if (valueSet || walkInto) rules.set(jsonName, { type, valueSet, walkInto });
}
