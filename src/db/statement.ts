import type { Queryable, QueryResult } from './database.js';

/** One data-modifying statement and its bind values, to run alone or as part of one combined statement. */
export interface StatementPart {
  sql: string;
  params: unknown[];
}

/**
 * Runs parts as ONE statement: every part but the last becomes a data-modifying CTE, its placeholders
 * renumbered after the parts before it; the result is the last part's. A workflow step writes several tables
 * (a participant, events, the meeting row, the outbox) and each round trip to the database costs more than
 * the writes themselves. The parts see the same snapshot and none reads what another writes; foreign keys
 * are checked at the end of the statement, so an event may name the meeting a sibling part inserts.
 */
export async function runParts<T = Record<string, unknown>>(q: Queryable, parts: (StatementPart | undefined)[]): Promise<QueryResult<T>> {
  const present = parts.filter((p): p is StatementPart => p !== undefined);
  if (present.length === 0) throw new Error('runParts needs at least one part');
  const params: unknown[] = [];
  const texts = present.map((part) => {
    const offset = params.length;
    params.push(...part.params);
    return renumber(part.sql, offset);
  });
  const last = texts.pop()!;
  const sql = texts.length === 0 ? last : `WITH ${texts.map((t, i) => `part${i} AS (${t})`).join(',\n')}\n${last}`;
  return q.query<T>(sql, params, { prepare: true });
}

/**
 * A part's SQL with its placeholders moved up by `offset` ($1 → $(1 + offset)), to follow other bind values
 * in one statement. Parts are written by this product and hold no `$n` text inside literals.
 */
export function renumber(sql: string, offset: number): string {
  return offset === 0 ? sql : sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
}
