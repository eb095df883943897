import { TextArray, type Queryable } from '../../db/database.js';
import type { CompositeIndexRow, DateIndexRow, NumberIndexRow, ResourceIndexes, StringIndexRow } from './types.js';

/*
 * The side-table rows of one resource are written in a single statement: data-modifying CTEs, one per table
 * that has rows. All parts of one statement see the same snapshot, so the DELETEs of an update never see the
 * rows the INSERTs add. A new resource has nothing to delete, and a table without rows gets no CTE at all — a
 * create with no string/date/number values sends no statement.
 */

type SqlType = 'text' | 'int' | 'smallint' | 'numeric' | 'timestamptz';

/** A side table and how each of its value columns (after resource_type and id) is read from an index row. */
interface SideTable<R> {
  name: string;
  columns: [column: string, type: SqlType, value: (row: R) => string | number | null | undefined][];
}

const numeric = (n: number | undefined) => (n === undefined ? null : String(n));

const STRINGS: SideTable<StringIndexRow> = {
  name: 'fhir_search_string',
  columns: [['param', 'text', (r) => r.param], ['value', 'text', (r) => r.value], ['exact', 'text', (r) => r.exact]],
};
const DATES: SideTable<DateIndexRow> = {
  name: 'fhir_search_date',
  columns: [['param', 'text', (r) => r.param], ['low', 'timestamptz', (r) => r.low], ['high', 'timestamptz', (r) => r.high]],
};
const NUMBERS: SideTable<NumberIndexRow> = {
  name: 'fhir_search_number',
  columns: [
    ['param', 'text', (r) => r.param], ['low', 'numeric', (r) => numeric(r.low)], ['high', 'numeric', (r) => numeric(r.high)],
    ['system', 'text', (r) => r.system], ['code', 'text', (r) => r.code],
  ],
};
const COMPOSITES: SideTable<CompositeIndexRow> = {
  name: 'fhir_search_composite',
  columns: [
    ['param', 'text', (r) => r.param], ['elem', 'int', (r) => r.elem], ['part', 'smallint', (r) => r.part],
    ['key', 'text', (r) => r.key], ['exact', 'text', (r) => r.exact], ['low', 'numeric', (r) => numeric(r.low)],
    ['high', 'numeric', (r) => numeric(r.high)], ['system', 'text', (r) => r.system], ['code', 'text', (r) => r.code],
    ['low_at', 'timestamptz', (r) => r.lowAt], ['high_at', 'timestamptz', (r) => r.highAt],
  ],
};

/**
 * The INSERT of one resource's rows into a side table; `owner` is the SELECT list that gives (resource_type, id)
 * and `from` what it reads from. The rows come from unnest() of one array per column, or, for a single row (a
 * resource's one date, say: the usual case), from its values as they are: PostgreSQL then builds and walks no
 * arrays (measured: about 12 of the 65 µs of backend CPU the date row of an Encounter create cost). `param`
 * names the next bind parameter; rowValues gives the values in the same order.
 */
function insertRowsSql<R>(table: SideTable<R>, single: boolean, param: () => string, owner: string, from: string): string {
  const { name, columns } = table;
  const values = single
    ? `(VALUES (${columns.map(([, type]) => `${param()}::${type}`).join(', ')}))`
    : `unnest(${columns.map(([, type]) => `${param()}::${type}[]`).join(', ')})`;
  return `INSERT INTO ${name} (resource_type, id, ${columns.map(([column]) => column).join(', ')})
       SELECT ${owner}, u.* FROM ${from}${values} AS u`;
}

/** The bind values of insertRowsSql: a value per column for a single row, else an array per column. */
function rowValues<R>(table: SideTable<R>, rows: R[]): unknown[] {
  if (rows.length === 1) return table.columns.map(([, , value]) => value(rows[0]) ?? null);
  return table.columns.map(([, type, value]) => {
    const column = rows.map((r) => value(r) ?? null);
    return type === 'text' ? new TextArray(column as (string | null)[]) : column;
  });
}

/** Calls `write` for each side table the resource has rows for, with those rows. */
function forEachSideTable(indexes: ResourceIndexes, write: <R>(name: string, table: SideTable<R>, rows: R[]) => void): void {
  const { strings, dates, numbers, composites } = indexes;
  if (composites && composites.length > 0) write('composite', COMPOSITES, composites);
  if (strings.length > 0) write('string', STRINGS, strings);
  if (dates.length > 0) write('date', DATES, dates);
  if (numbers.length > 0) write('number', NUMBERS, numbers);
}

/** Data-modifying CTEs that write the side-table rows of one resource inside a larger statement. */
export interface IndexRowsSql {
  /** `name AS (…)` items for a WITH list; empty when there is nothing to write (shared: not to be changed) */
  ctes: readonly string[];
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
  const params: unknown[] = [];
  forEachSideTable(indexes, (_name, table, rows) => params.push(...rowValues(table, rows)));
  const { composites, strings, dates, numbers } = indexes;
  const shape = `${opts.isNew ? 'new' : 'old'} ${opts.source} ${opts.firstParam} ${composites ? rowsShape(composites.length) : '-'}${rowsShape(strings.length)}${rowsShape(dates.length)}${rowsShape(numbers.length)}`;
  let ctes = ctesByShape.get(shape);
  if (!ctes) {
    ctes = Object.freeze(indexRowsCtes(indexes, opts));
    ctesByShape.set(shape, ctes);
  }
  return { ctes, params };
}

/**
 * indexRowsSql's CTE texts by the shape of the write: whether it replaces earlier rows, where the owner comes from,
 * the first parameter number, and for each side table whether it gets no row, one, or several. The texts depend
 * on nothing else, and a create would otherwise build the same ones again (in the server's busiest path, where
 * the server's own CPU limits how many creates it takes). The shapes are few: the map stays small.
 */
const ctesByShape = new Map<string, readonly string[]>();

const rowsShape = (rows: number): string => (rows === 0 ? '0' : rows === 1 ? '1' : 'n');

function indexRowsCtes(indexes: ResourceIndexes, opts: { isNew: boolean; source: string; firstParam: number }): string[] {
  const { source } = opts;
  let next = opts.firstParam;
  const param = (): string => `$${next++}`;
  const ctes: string[] = [];
  if (!opts.isNew) {
    for (const [name, table] of [['string', 'fhir_search_string'], ['date', 'fhir_search_date'], ['number', 'fhir_search_number']]) {
      ctes.push(`ix_del_${name} AS (DELETE FROM ${table} t USING ${source} o WHERE t.resource_type = o.resource_type AND t.id = o.id)`);
    }
    if (indexes.composites) {
      ctes.push(`ix_del_composite AS (DELETE FROM fhir_search_composite t USING ${source} o WHERE t.resource_type = o.resource_type AND t.id = o.id)`);
    }
  }
  forEachSideTable(indexes, (name, table, rows) =>
    ctes.push(`ix_${name} AS (${insertRowsSql(table, rows.length === 1, param, 'o.resource_type, o.id', `${source} o, `)})`),
  );
  return ctes;
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
  const parts: string[] = [];
  if (!opts.isNew) {
    for (const table of ['fhir_search_string', 'fhir_search_date', 'fhir_search_number']) {
      parts.push(`DELETE FROM ${table} WHERE resource_type = $1 AND id = $2`);
    }
    if (indexes.composites) parts.push('DELETE FROM fhir_search_composite WHERE resource_type = $1 AND id = $2');
  }
  forEachSideTable(indexes, (_name, table, rows) => {
    let next = params.length + 1;
    parts.push(insertRowsSql(table, rows.length === 1, () => `$${next++}`, '$1, $2', ''));
    params.push(...rowValues(table, rows));
  });
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
