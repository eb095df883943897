import type { Queryable } from '../../db/database.js';
import type { CompositeIndexRow, ResourceIndexes } from './types.js';

/*
 * The side-table rows of one resource are written in a single statement: data-modifying CTEs, one per table
 * that has rows, each inserting from unnest() of parallel arrays. All parts of one statement see the same
 * snapshot, so the DELETEs of an update never see the rows the INSERTs add. A new resource has nothing to
 * delete, and a table without rows gets no CTE at all — a create with no string/date/number values sends no
 * statement.
 */

/**
 * The INSERT of composite rows, from parallel arrays; `owner` is the SELECT list that gives (resource_type, id)
 * and `from` what it reads from. Types without composite parameters have `composites` undefined: no statement
 * part at all, not even the DELETE of an update.
 */
function compositeInsert(rows: CompositeIndexRow[], p: (value: unknown) => string, owner: string, from: string): string {
  const col = <T>(f: (r: CompositeIndexRow) => T | undefined) => rows.map((r) => f(r) ?? null);
  return `INSERT INTO fhir_search_composite (resource_type, id, param, elem, part, key, exact, low, high, system, code, low_at, high_at)
       SELECT ${owner}, u.* FROM ${from}unnest(${p(col((r) => r.param))}::text[], ${p(col((r) => r.elem))}::int[], ${p(col((r) => r.part))}::smallint[], ${p(col((r) => r.key))}::text[], ${p(col((r) => r.exact))}::text[], ${p(col((r) => (r.low === undefined ? undefined : String(r.low))))}::numeric[], ${p(col((r) => (r.high === undefined ? undefined : String(r.high))))}::numeric[], ${p(col((r) => r.system))}::text[], ${p(col((r) => r.code))}::text[], ${p(col((r) => r.lowAt))}::timestamptz[], ${p(col((r) => r.highAt))}::timestamptz[]) AS u`;
}

/** Data-modifying CTEs that write the side-table rows of one resource inside a larger statement. */
export interface IndexRowsSql {
  /** `name AS (…)` items for a WITH list; empty when there is nothing to write */
  ctes: string[];
  /** their bind values, numbered from `firstParam` */
  params: unknown[];
}

/**
 * The side-table writes of one resource as CTEs for the repository's write statement, so a create or update
 * is one statement: current row, history row and index rows. `source` names a CTE of that statement that
 * returns the written row's (resource_type, id); every insert reads its owner from it, so a write that wrote
 * no row (an insert that met ON CONFLICT DO NOTHING) inserts no index rows either. On an update the DELETEs of
 * the old rows run in the same snapshot as the INSERTs and never see the new rows.
 */
export function indexRowsSql(indexes: ResourceIndexes, opts: { isNew: boolean; source: string; firstParam: number }): IndexRowsSql {
  const { source } = opts;
  const params: unknown[] = [];
  const p = (value: unknown): string => {
    params.push(value);
    return `$${opts.firstParam + params.length - 1}`;
  };
  const ctes: string[] = [];
  if (!opts.isNew) {
    for (const [name, table] of [['string', 'fhir_search_string'], ['date', 'fhir_search_date'], ['number', 'fhir_search_number']]) {
      ctes.push(`ix_del_${name} AS (DELETE FROM ${table} t USING ${source} o WHERE t.resource_type = o.resource_type AND t.id = o.id)`);
    }
    if (indexes.composites) {
      ctes.push(`ix_del_composite AS (DELETE FROM fhir_search_composite t USING ${source} o WHERE t.resource_type = o.resource_type AND t.id = o.id)`);
    }
  }
  const { strings, dates, numbers, composites } = indexes;
  if (composites && composites.length > 0) ctes.push(`ix_composite AS (${compositeInsert(composites, p, 'o.resource_type, o.id', `${source} o, `)})`);
  if (strings.length > 0) {
    ctes.push(
      `ix_string AS (INSERT INTO fhir_search_string (resource_type, id, param, value, exact)
       SELECT o.resource_type, o.id, u.* FROM ${source} o, unnest(${p(strings.map((r) => r.param))}::text[], ${p(strings.map((r) => r.value))}::text[], ${p(strings.map((r) => r.exact))}::text[]) AS u)`,
    );
  }
  if (dates.length > 0) {
    ctes.push(
      `ix_date AS (INSERT INTO fhir_search_date (resource_type, id, param, low, high)
       SELECT o.resource_type, o.id, u.* FROM ${source} o, unnest(${p(dates.map((r) => r.param))}::text[], ${p(dates.map((r) => r.low))}::timestamptz[], ${p(dates.map((r) => r.high))}::timestamptz[]) AS u)`,
    );
  }
  if (numbers.length > 0) {
    ctes.push(
      `ix_number AS (INSERT INTO fhir_search_number (resource_type, id, param, low, high, system, code)
       SELECT o.resource_type, o.id, u.* FROM ${source} o, unnest(${p(numbers.map((r) => r.param))}::text[], ${p(numbers.map((r) => String(r.low)))}::numeric[], ${p(numbers.map((r) => String(r.high)))}::numeric[], ${p(numbers.map((r) => r.system ?? null))}::text[], ${p(numbers.map((r) => r.code ?? null))}::text[]) AS u)`,
    );
  }
  return { ctes, params };
}

/**
 * Replaces the string, date and number search rows of a resource (tokens and refs live on its row), as a
 * statement of its own: for reindexing, the audit store and other writers outside the repository.
 */
export async function writeIndexRows(
  tx: Queryable,
  resourceType: string,
  id: string,
  indexes: ResourceIndexes,
  opts: { isNew: boolean },
): Promise<void> {
  const params: unknown[] = [resourceType, id];
  const p = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const parts: string[] = [];
  if (!opts.isNew) {
    for (const table of ['fhir_search_string', 'fhir_search_date', 'fhir_search_number']) {
      parts.push(`DELETE FROM ${table} WHERE resource_type = $1 AND id = $2`);
    }
    if (indexes.composites) parts.push('DELETE FROM fhir_search_composite WHERE resource_type = $1 AND id = $2');
  }
  const { strings, dates, numbers, composites } = indexes;
  if (composites && composites.length > 0) parts.push(compositeInsert(composites, p, '$1, $2', ''));
  if (strings.length > 0) {
    parts.push(
      `INSERT INTO fhir_search_string (resource_type, id, param, value, exact)
       SELECT $1, $2, u.* FROM unnest(${p(strings.map((r) => r.param))}::text[], ${p(strings.map((r) => r.value))}::text[], ${p(strings.map((r) => r.exact))}::text[]) AS u`,
    );
  }
  if (dates.length > 0) {
    parts.push(
      `INSERT INTO fhir_search_date (resource_type, id, param, low, high)
       SELECT $1, $2, u.* FROM unnest(${p(dates.map((r) => r.param))}::text[], ${p(dates.map((r) => r.low))}::timestamptz[], ${p(dates.map((r) => r.high))}::timestamptz[]) AS u`,
    );
  }
  if (numbers.length > 0) {
    parts.push(
      `INSERT INTO fhir_search_number (resource_type, id, param, low, high, system, code)
       SELECT $1, $2, u.* FROM unnest(${p(numbers.map((r) => r.param))}::text[], ${p(numbers.map((r) => String(r.low)))}::numeric[], ${p(numbers.map((r) => String(r.high)))}::numeric[], ${p(numbers.map((r) => r.system ?? null))}::text[], ${p(numbers.map((r) => r.code ?? null))}::text[]) AS u`,
    );
  }
  if (parts.length === 0) return;
  await tx.query(combine(parts), params);
}

/** Removes all side-table rows of a resource (hard delete, or before a reindex). */
export async function deleteIndexRows(tx: Queryable, resourceType: string, id: string): Promise<void> {
  await tx.query(
    combine([
      'DELETE FROM fhir_search_string WHERE resource_type = $1 AND id = $2',
      'DELETE FROM fhir_search_date WHERE resource_type = $1 AND id = $2',
      'DELETE FROM fhir_search_number WHERE resource_type = $1 AND id = $2',
      'DELETE FROM fhir_search_composite WHERE resource_type = $1 AND id = $2',
    ]),
    [resourceType, id],
  );
}

/** One statement out of several data-modifying ones: all but the last become CTEs. */
function combine(statements: string[]): string {
  if (statements.length === 1) return statements[0];
  const ctes = statements.slice(0, -1).map((s, i) => `w${i} AS (${s})`);
  return `WITH ${ctes.join(', ')} ${statements[statements.length - 1]}`;
}
