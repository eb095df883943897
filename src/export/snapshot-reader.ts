import type { Queryable } from '../db/database.js';
import { patientCompartmentParams } from '../auth/compartment.js';
import { parseSearchRequest } from '../fhir/search/index.js';
import { filterCondition, refsMatch, SqlBuilder, type SearchScope } from '../fhir/search/sql.js';
import { refKey, refPrefix } from '../fhir/search/tokens.js';

/**
 * Reads one resource type of an export, page by page, as the store was at the job's transactionTime.
 *
 * Pages are keyset pages over the primary key (resource_type, id): `id > last id of the previous page`, never
 * OFFSET, so each page costs the same however far the export has gone, and the position is one id that a job
 * can save and resume from.
 *
 * A row changed after transactionTime (updated, deleted, or created) is not exported as it is now: its
 * version as of transactionTime is taken from fhir_resource_history (the latest version written at or before
 * transactionTime; none when it was created later, nothing when that version is a deletion). So an export is
 * a consistent snapshot however long it runs, and resources written meanwhile come in the next `_since` export.
 * _typeFilter and compartment criteria are matched against the current search index, as search does; for a
 * resource changed during the export that decides whether its earlier version is exported.
 *
 * Resources are returned as the JSON text PostgreSQL holds, written out as is: no parse, no re-serialisation.
 */
export interface TypeSelection {
  orgId: string;
  baseUrl: string;
  resourceType: string;
  transactionTime: string;
  since?: string;
  /** alternatives: a resource matching any of these queries is exported; none = all */
  typeFilters?: string[];
  /** patient and group exports: only resources in these patients' compartments, or in any patient's ('all') */
  patients?: string[] | 'all';
}

export interface ExportRow {
  id: string;
  json: string;
}

export interface PageQuery {
  sql: string;
  params: unknown[];
  /** where the keyset position goes in params (null = from the start) */
  afterParam: number;
}

/** Builds the page query once per type; each page only changes the keyset position. */
export function buildPageQuery(sel: TypeSelection, pageSize: number): PageQuery {
  const b = new SqlBuilder();
  const scope: SearchScope = { orgId: sel.orgId, baseUrl: sel.baseUrl };
  const t = b.param(sel.transactionTime, 'timestamptz');
  const conds = [`r.resource_type = ${b.param(sel.resourceType, 'text')}`, `r.org_id = ${b.param(sel.orgId, 'text')}`];
  const afterParam = b.params.length;
  const after = b.param(null, 'text');
  conds.push(`(${after} IS NULL OR r.id > ${after})`);

  const since = sel.since ? b.param(sel.since, 'timestamptz') : undefined;
  const currentIsSnapshot = `NOT r.deleted AND r.last_updated <= ${t}${since ? ` AND r.last_updated > ${since}` : ''}`;
  const historyIsSnapshot = `r.last_updated > ${t} AND h.json IS NOT NULL${since ? ` AND h.last_updated > ${since}` : ''}`;
  conds.push(`((${currentIsSnapshot}) OR (${historyIsSnapshot}))`);

  if (sel.typeFilters && sel.typeFilters.length > 0) {
    const alternatives = sel.typeFilters.map((query) => {
      const request = parseSearchRequest(sel.resourceType, Object.fromEntries(groupQuery(query)), { strict: true });
      const parts = request.filters.map((f) => filterCondition(b, 'r', scope, f));
      return parts.length > 0 ? `(${parts.join(' AND ')})` : 'true';
    });
    conds.push(`(${alternatives.join(' OR ')})`);
  }
  if (sel.patients) conds.push(compartment(b, sel.resourceType, sel.patients));

  const sql = `
    SELECT r.id, CASE WHEN r.last_updated <= ${t} THEN r.resource_data::text ELSE h.json END AS json
    FROM fhir_resources r
    LEFT JOIN LATERAL (
      SELECT hv.resource_data::text AS json, hv.last_updated
      FROM fhir_resource_history hv
      WHERE r.last_updated > ${t} AND hv.resource_type = r.resource_type AND hv.id = r.id AND hv.last_updated <= ${t}
      ORDER BY hv.version_id DESC
      LIMIT 1) h ON true
    WHERE ${conds.join(' AND ')}
    ORDER BY r.id
    LIMIT ${b.param(pageSize, 'int')}`;
  return { sql, params: b.params, afterParam };
}

export async function readPage(db: Queryable, query: PageQuery, afterId: string | null): Promise<ExportRow[]> {
  const params = [...query.params];
  params[query.afterParam] = afterId;
  return (await db.query<ExportRow>(query.sql, params)).rows;
}

/** Resource types a patient or group export covers: Patient and the types of the Patient compartment. */
export function isPatientCompartmentType(resourceType: string): boolean {
  return resourceType === 'Patient' || patientCompartmentParams(resourceType).length > 0;
}

function compartment(b: SqlBuilder, resourceType: string, patients: string[] | 'all'): string {
  if (resourceType === 'Patient') return patients === 'all' ? 'true' : `r.id = ANY(${b.param(patients, 'text[]')})`;
  const params = patientCompartmentParams(resourceType);
  if (params.length === 0) return 'false';
  if (patients === 'all') {
    const patterns = params.map((p) => `${refPrefix(p)}Patient/%`);
    return `EXISTS (SELECT 1 FROM unnest(r.refs) AS ref WHERE ref LIKE ANY (${b.param(patterns, 'text[]')}))`;
  }
  const keys = params.flatMap((p) => patients.map((id) => refKey(p, `Patient/${id}`)));
  return refsMatch(b, 'r', keys);
}

function groupQuery(query: string): [string, string[]][] {
  const grouped = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(query)) grouped.set(k, [...(grouped.get(k) ?? []), v]);
  return [...grouped];
}
