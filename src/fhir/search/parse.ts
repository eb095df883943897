import { badRequest } from '../outcomes.js';
import { fullTextParam, getSearchParam, isResourceType, modifiersOf, type SearchParamDef } from './parameters.js';
import type { CodeMatch } from './terminology.js';

export type SearchPrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES = new Set<SearchPrefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** One `name[:modifier]=v1,v2` of the query: the values are alternatives (OR); filters are combined with AND. */
export interface SearchFilter {
  /** The resource type the parameter belongs to. */
  resourceType: string;
  param: SearchParamDef;
  modifier?: string;
  /** For reference parameters: the `:Type` modifier. */
  targetType?: string;
  /** Alternatives, split at unescaped commas; escapes other than `\,` are kept for the value parser. */
  values: string[];
  /** `ref:Type.param=…`: the reference must point to a resource of one of these types matching the filter. */
  chain?: { targetType: string; filter: SearchFilter }[];
  /** The query parameter name as received (`code:in`), for messages and for dropping it under lenient handling. */
  key?: string;
  /**
   * For token `:in`, `:not-in`, `:below` and `:above`: the codes the values stand for, filled in from value
   * sets and code systems before the query is built (see resolve-codes.ts).
   */
  codes?: CodeMatch[];
}

/** Token modifiers whose values stand for sets of codes that terminology must supply. */
export const TERMINOLOGY_MODIFIERS: ReadonlySet<string> = new Set(['in', 'not-in', 'below', 'above']);

/** `_has:Type:refParam:filter`: resources referenced by `refParam` of some `Type` matching `filter`. */
export interface HasFilter {
  sourceType: string;
  refParam: string;
  filter: SearchFilter | HasFilter;
  /** The query parameter name as received. */
  key?: string;
}

export interface SortKey {
  param: SearchParamDef;
  descending: boolean;
}

export interface IncludeSpec {
  sourceType: string;
  param: SearchParamDef;
  targetType?: string;
  iterate: boolean;
}

export type SummaryMode = 'true' | 'false' | 'count' | 'data' | 'text';
export type TotalMode = 'none' | 'estimate' | 'accurate';

export interface SearchRequest {
  resourceType: string;
  filters: (SearchFilter | HasFilter)[];
  count: number;
  sort: SortKey[];
  summary?: SummaryMode;
  elements?: string[];
  total: TotalMode;
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** Opaque keyset position from a previous page's link. */
  cursor?: string;
  /** Parameters not understood and ignored (lenient handling); reported in an OperationOutcome entry. */
  ignored: string[];
  /** The parameters that were applied, as received, for the self/next/previous links. */
  query: [string, string][];
  /** `Prefer: handling=strict`: what cannot be evaluated is an error rather than ignored. */
  strict: boolean;
  /** Set by compartment search: only resources in this compartment. */
  compartment?: { type: string; id: string; params: string[] };
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Parameters of the search framework itself that are accepted and need no index. */
const IGNORED_FRAMEWORK_PARAMS = new Set(['_format', '_pretty']);

export function isHasFilter(f: SearchFilter | HasFilter): f is HasFilter {
  return (f as HasFilter).sourceType !== undefined;
}

/** Splits at commas not escaped with `\`. */
export function splitOr(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      if (value[i + 1] === ',') cur += ',';
      else cur += c + value[i + 1];
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Splits one composite value at `$` not escaped with `\`: `loinc|8480-6$gt140` → [`loinc|8480-6`, `gt140`].
 * `\$` becomes `$`; other escapes stay for the component's own parser.
 */
export function splitComposite(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += value[i + 1] === '$' ? '$' : c + value[i + 1];
      i++;
    } else if (c === '$') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Splits at `|` not escaped with `\`, then removes the escapes. */
export function splitPipe(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += value[i + 1];
      i++;
    } else if (c === '|') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function unescapeValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

/** `ge2020-01-01` → ['ge', '2020-01-01']; no prefix → eq. */
export function splitPrefix(value: string): [SearchPrefix, string] {
  const p = value.slice(0, 2) as SearchPrefix;
  if (PREFIXES.has(p) && /^[a-z]{2}[-+\d]/.test(value)) return [p, value.slice(2)];
  return ['eq', value];
}


class UnknownParameter extends Error {}

function parseFilter(resourceType: string, key: string, value: string): SearchFilter | HasFilter {
  if (key.startsWith('_has:')) {
    const [, sourceType, refParam, ...rest] = key.split(':');
    if (!sourceType || !refParam || rest.length === 0 || !isResourceType(sourceType)) {
      throw badRequest(`Invalid _has parameter: ${key}`, key);
    }
    const ref = getSearchParam(sourceType, refParam);
    if (!ref || ref.type !== 'reference') throw badRequest(`Unknown reference parameter ${sourceType}.${refParam} in ${key}`, key);
    return { sourceType, refParam, filter: parseFilter(sourceType, rest.join(':'), value), key };
  }
  const dot = key.indexOf('.');
  const head = dot >= 0 ? key.slice(0, dot) : key;
  const [code, modifier] = head.split(':', 2);
  const param = getSearchParam(resourceType, code) ?? fullTextParam(resourceType, code);
  if (!param) throw new UnknownParameter(code);
  const filter: SearchFilter = { resourceType, param, values: [], key };
  if (modifier !== undefined) {
    if (param.type === 'reference' && isResourceType(modifier)) {
      if (param.targets.length > 0 && !param.targets.includes(modifier)) {
        throw badRequest(`${resourceType}.${code} cannot refer to ${modifier}`, key);
      }
      filter.targetType = modifier;
    } else if (modifiersOf(param).includes(modifier)) {
      filter.modifier = modifier;
    } else {
      throw badRequest(`Modifier :${modifier} is not supported on ${param.type} parameter ${code}`, key);
    }
  }
  if (dot >= 0) {
    if (param.type !== 'reference') throw badRequest(`Only reference parameters can be chained: ${key}`, key);
    const rest = key.slice(dot + 1);
    const chainedCode = rest.split(/[.:]/, 1)[0];
    const targets = (filter.targetType ? [filter.targetType] : param.targets).filter((t) => getSearchParam(t, chainedCode));
    if (targets.length === 0) throw badRequest(`No target of ${code} has a search parameter ${chainedCode}`, key);
    filter.chain = targets.map((t) => ({ targetType: t, filter: parseFilter(t, rest, value) as SearchFilter }));
    return filter;
  }
  filter.values = splitOr(value);
  if (filter.modifier === 'missing' && filter.values.some((v) => v !== 'true' && v !== 'false')) {
    throw badRequest(`:missing takes true or false`, key);
  }
  if (param.components && filter.modifier !== 'missing') {
    const names = param.components.map((c) => c.code).join('$');
    for (const v of filter.values) {
      const parts = splitComposite(v);
      if (parts.length !== param.components.length || parts.some((p) => p === '')) {
        throw badRequest(`${code} takes ${param.components.length} values separated by $ (${names}), got ${v}`, key);
      }
    }
  }
  return filter;
}

function parseSort(resourceType: string, value: string): SortKey[] {
  return value
    .split(',')
    .filter(Boolean)
    .map((item) => {
      const descending = item.startsWith('-');
      const code = descending ? item.slice(1) : item;
      const param = getSearchParam(resourceType, code);
      if (!param) throw badRequest(`Unknown sort parameter ${code}`, '_sort');
      if (param.type === 'composite') throw badRequest(`Cannot sort by the composite parameter ${code}`, '_sort');
      return { param, descending };
    });
}

function parseInclude(value: string, iterate: boolean, name: string): IncludeSpec {
  const [sourceType, code, targetType] = value.split(':');
  if (!sourceType || !isResourceType(sourceType) || !code) throw badRequest(`Invalid ${name}: ${value}`, name);
  const param = getSearchParam(sourceType, code);
  if (!param || param.type !== 'reference') throw badRequest(`Invalid ${name}: ${sourceType} has no reference parameter ${code}`, name);
  if (targetType !== undefined && !isResourceType(targetType)) throw badRequest(`Invalid ${name} target type: ${targetType}`, name);
  return { sourceType, param, targetType, iterate };
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw badRequest(`${name} must be one of ${allowed.join(', ')}`, name);
  return value as T;
}

/**
 * Reads a search query (`name[:modifier]=value`, repeated names = AND, commas = OR) into a SearchRequest.
 * Unknown parameters are ignored and listed in `ignored`, or rejected with 400 when strict (the client asked
 * for `Prefer: handling=strict`).
 */
export function parseSearchRequest(
  resourceType: string,
  query: Record<string, string | string[] | undefined>,
  opts: { strict: boolean },
): SearchRequest {
  if (!isResourceType(resourceType)) throw badRequest(`Unknown resource type ${resourceType}`);
  const request: SearchRequest = {
    resourceType,
    filters: [],
    count: DEFAULT_COUNT,
    sort: [],
    total: 'none',
    include: [],
    revinclude: [],
    ignored: [],
    query: [],
    strict: opts.strict,
  };
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    const last = values[values.length - 1];
    const keep = (): void => {
      for (const v of values) request.query.push([key, v]);
    };
    switch (key) {
      case '_count': {
        const n = Number(last);
        if (!Number.isInteger(n) || n < 0) throw badRequest('_count must be a non-negative integer', '_count');
        request.count = Math.min(n, MAX_COUNT);
        keep();
        continue;
      }
      case '_sort':
        request.sort = values.flatMap((v) => parseSort(resourceType, v));
        keep();
        continue;
      case '_summary':
        request.summary = oneOf('_summary', last, ['true', 'false', 'count', 'data', 'text'] as const);
        keep();
        continue;
      case '_elements':
        request.elements = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
        keep();
        continue;
      case '_total':
        request.total = oneOf('_total', last, ['none', 'estimate', 'accurate'] as const);
        keep();
        continue;
      case '_include':
      case '_include:iterate':
      case '_revinclude':
      case '_revinclude:iterate': {
        const [name, mod] = key.split(':');
        const specs = values.map((v) => parseInclude(v, mod === 'iterate', name));
        (name === '_include' ? request.include : request.revinclude).push(...specs);
        keep();
        continue;
      }
      case '_cursor':
        request.cursor = last;
        continue;
    }
    if (IGNORED_FRAMEWORK_PARAMS.has(key)) continue;
    try {
      // A repeated parameter is a conjunction: one filter per occurrence.
      for (const v of values) request.filters.push(parseFilter(resourceType, key, v));
      keep();
    } catch (err) {
      if (!(err instanceof UnknownParameter)) throw err;
      if (opts.strict) throw badRequest(`Unknown search parameter ${err.message} for ${resourceType}`, key);
      request.ignored.push(key);
    }
  }
  return request;
}
