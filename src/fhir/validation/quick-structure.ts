import {
  capitalize,
  evalFhirPathTyped,
  fhirTypeToJsType,
  parseFhirPath,
  toTypedValue,
  tryGetDataType,
  UCUM,
  validationRegexes,
} from '@medplum/core';
import type { Constraint, InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';

/**
 * A quick answer to one question: would Medplum's validator find no error in this resource?
 *
 * Medplum's validator stays the authority: every resource this cannot vouch for goes through it, and every
 * error message comes from it. But it visits every element the schema defines, present or not, building a
 * typed value and a path string for each, which costs 200–400 µs for an ordinary Patient under load — more
 * than storing it. This walks only the properties that are present and makes the same checks on them:
 * unknown properties, arrays where single values belong and the reverse, cardinality, required elements,
 * primitive JSON types and formats (Medplum's own regexes), and the invariants Medplum evaluates (the same
 * FHIRPath, through Medplum's engine, with the same variables).
 *
 * It only ever answers "valid" or "not sure". Everything unusual is "not sure" and left to Medplum: null
 * values, empty strings, arrays or objects, primitive extensions (`_birthDate`), contained and nested
 * resources, elements with fixed values, patterns or slices, two values of one choice element. A test runs
 * both over every official R4 example and thousands of broken variants of them and checks that whatever this
 * calls valid, Medplum accepts.
 */
export function passesStructureQuickly(resource: Record<string, unknown>): boolean {
  const type = resource.resourceType;
  if (typeof type !== 'string') return false;
  const rules = rulesFor(type);
  if (!rules) return false;
  const pending: PendingConstraint[] = [];
  if (!walkObject(resource, rules, pending, true)) return false;
  if (rules.constraints.length === 0 && pending.length === 0) return true;
  return constraintsHold(resource, type, rules, pending);
}

/** Medplum skips these invariant keys (its validation.ts `skippedConstraintKeys`); ele-1 holds by construction here. */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const MAX_STRING_LENGTH = 1024 * 1024;
const INTEGER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt']);

interface CompiledConstraint {
  key: string;
  expression: ReturnType<typeof parseFhirPath>;
}

interface FieldRule {
  /** type code of the value under this JSON name (a choice element's JSON names each have their own) */
  type: string;
  isArray: boolean;
  min: number;
  max: number;
  /** set for choice elements: the element name (`deceased[x]`) shared by all its JSON names */
  choice?: string;
  /** what the JS value must be for a primitive type */
  jsType?: 'string' | 'number' | 'boolean';
  regex?: RegExp;
  /** the type's rules when the value is an object to walk into */
  complex?: boolean;
  constraints: CompiledConstraint[];
  /** fixed value, pattern or slicing: only Medplum can judge this element */
  deferred: boolean;
}

interface TypeRules {
  fields: Map<string, FieldRule>;
  /** for each required element, the JSON names that satisfy it */
  required: string[][];
  /** invariants on the type itself, checked on the resource at the root (as Medplum does) */
  constraints: CompiledConstraint[];
}

interface PendingConstraint {
  constraint: CompiledConstraint;
  type: string;
  value: unknown;
}

const rulesByType = new Map<string, TypeRules | null>();

function rulesFor(typeName: string): TypeRules | undefined {
  let rules = rulesByType.get(typeName);
  if (rules === undefined) {
    const schema = tryGetDataType(typeName);
    rules = schema ? compileRules(schema) : null;
    rulesByType.set(typeName, rules);
  }
  return rules ?? undefined;
}

function compileRules(schema: InternalTypeSchema): TypeRules {
  const fields = new Map<string, FieldRule>();
  const required: string[][] = [];
  for (const [name, element] of Object.entries(schema.elements)) {
    const jsonNames: string[] = [];
    if (name.endsWith('[x]')) {
      const base = name.slice(0, -3);
      for (const { code } of element.type) {
        const jsonName = base + capitalize(code);
        fields.set(jsonName, fieldRule(element, code, name));
        jsonNames.push(jsonName);
      }
    } else if (element.type.length > 0) {
      fields.set(name, fieldRule(element, element.type[0].code));
      jsonNames.push(name);
    }
    if (element.min > 0) required.push(jsonNames);
  }
  return { fields, required, constraints: compileConstraints(schema.constraints) };
}

function fieldRule(element: InternalSchemaElement, type: string, choice?: string): FieldRule {
  const jsType = (fhirTypeToJsType as Record<string, 'string' | 'number' | 'boolean' | undefined>)[type];
  return {
    type,
    isArray: element.isArray === true,
    min: element.min,
    max: element.max,
    choice,
    jsType,
    regex: jsType === 'string' ? validationRegexes[type] : undefined,
    complex: jsType === undefined,
    constraints: compileConstraints(element.constraints),
    // Several type codes (a Reference that can also be a canonical…) would need Medplum's choice of type.
    deferred: element.fixed !== undefined || element.pattern !== undefined || element.slicing !== undefined || (!choice && element.type.length > 1),
  };
}

function compileConstraints(constraints: Constraint[] | undefined): CompiledConstraint[] {
  return (constraints ?? [])
    .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
    .map((c) => ({ key: c.key, expression: parseFhirPath(c.expression) }));
}

function walkObject(obj: Record<string, unknown>, rules: TypeRules, pending: PendingConstraint[], isRoot: boolean): boolean {
  let keys = 0;
  let choices: string[] | undefined;
  for (const key in obj) {
    const value = obj[key];
    // Not JSON, but what `{ ...resource, id: undefined }` leaves: an absent property, to Medplum too.
    if (value === undefined) continue;
    keys++;
    if (key === 'resourceType' && isRoot) continue;
    const rule = rules.fields.get(key);
    if (!rule || rule.deferred) return false;
    if (rule.choice) {
      if (choices?.includes(rule.choice)) return false;
      (choices ??= []).push(rule.choice);
    }
    if (Array.isArray(value)) {
      if (!rule.isArray || value.length === 0 || value.length < rule.min || value.length > rule.max) return false;
      for (const item of value) if (!checkValue(item, rule, pending)) return false;
    } else {
      if (rule.isArray || rule.min > 1) return false;
      if (!checkValue(value, rule, pending)) return false;
    }
  }
  if (keys === 0) return false;
  for (const names of rules.required) {
    if (!names.some((name) => obj[name] !== undefined)) return false;
  }
  return true;
}

function checkValue(value: unknown, rule: FieldRule, pending: PendingConstraint[]): boolean {
  if (rule.jsType) {
    if (typeof value !== rule.jsType) return false;
    if (rule.jsType === 'string') {
      const s = value as string;
      if (s.length > MAX_STRING_LENGTH || s.trim() === '') return false;
      if (rule.regex && !rule.regex.test(s)) return false;
    } else if (rule.jsType === 'number') {
      const n = value as number;
      if (!Number.isFinite(n)) return false;
      if (INTEGER_TYPES.has(rule.type) && !Number.isInteger(n)) return false;
      if (rule.type === 'positiveInt' && n <= 0) return false;
      if (rule.type === 'unsignedInt' && n < 0) return false;
    }
  } else {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const inner = rulesFor(rule.type);
    // Contained and nested resources (type Resource) are left to Medplum, and so is a type it does not know.
    if (!inner || rule.type === 'Resource') return false;
    if (!walkObject(value as Record<string, unknown>, inner, pending, false)) return false;
  }
  for (const constraint of rule.constraints) pending.push({ constraint, type: rule.type, value });
  return true;
}

/** The invariants, evaluated as Medplum evaluates them (validation.ts isExpressionTrue). */
function constraintsHold(resource: Record<string, unknown>, type: string, rules: TypeRules, pending: PendingConstraint[]): boolean {
  const root = toTypedValue(resource);
  const base = { '%ucum': toTypedValue(UCUM), '%resource': toTypedValue(resource), '%rootResource': root };
  const holds = (constraint: CompiledConstraint, input: TypedValue): boolean => {
    try {
      const result = evalFhirPathTyped(constraint.expression, [input], { ...base, '%context': input });
      return result.length === 1 && result[0].value === true;
    } catch {
      return false;
    }
  };
  const rootValue: TypedValue = { type, value: resource };
  for (const constraint of rules.constraints) if (!holds(constraint, rootValue)) return false;
  for (const { constraint, type: valueType, value } of pending) {
    if (!holds(constraint, { type: valueType, value })) return false;
  }
  return true;
}
