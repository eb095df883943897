import type { AuditEvent } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.js';
import { newResourceId } from '../fhir/repository/ids.js';
import { contentHash, withServerMeta } from '../fhir/repository/meta.js';
import type { ResourceIndexes } from '../fhir/search/types.js';

/** The search module's extraction, which indexes AuditEvents like every other resource. */
export interface AuditIndexing {
  extractIndexes(resource: AuditEvent): ResourceIndexes;
}

export interface PendingAuditEvent {
  orgId: string;
  event: AuditEvent;
}

/** Data-modifying CTEs (`name AS (…)`) and their bind values, to be placed in a WITH list. */
export interface AuditSql {
  ctes: string[];
  params: unknown[];
}

/**
 * The SQL that stores AuditEvents as ordinary FHIR resources of their org (so admins search them through the
 * FHIR API): current row, history row and search index rows, for any number of events, as CTEs of one
 * statement. The events skip the repository's validation: they are built by buildAuditEvent, whose output a
 * test validates, and this runs for every batch.
 *
 * Everything travels as two JSON parameters ($1, $2) that PostgreSQL unpacks (jsonb_to_recordset): encoding
 * many per-row text arrays is the costly part of sending a batch, and the server has more CPU to spare than
 * the request path.
 */
function auditEventsSql(indexing: AuditIndexing, pending: PendingAuditEvent[]): AuditSql {
  const rows: unknown[] = [];
  const indexRows: { strings: unknown[]; dates: unknown[]; numbers: unknown[] } = { strings: [], dates: [], numbers: [] };
  for (const { orgId, event } of pending) {
    const id = newResourceId();
    const stored = withServerMeta(event, id, 1, event.recorded as string);
    const indexes = indexing.extractIndexes(stored);
    rows.push({ id, org_id: orgId, recorded: stored.recorded, content_hash: contentHash(stored), data: stored, tokens: indexes.tokens, refs: indexes.refs, texts: indexes.texts });
    for (const s of indexes.strings) indexRows.strings.push({ id, ...s });
    for (const d of indexes.dates) indexRows.dates.push({ id, ...d });
    for (const n of indexes.numbers) indexRows.numbers.push({ id, ...n, low: String(n.low), high: String(n.high) });
  }
  return {
    ctes: [
      `au_input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb)
           AS u(id text, org_id text, recorded timestamptz, content_hash text, data jsonb, tokens text[], refs text[], texts text[]))`,
      `au_cur AS (
         INSERT INTO fhir_resources
           (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs, texts,
            token_hashes, ref_hashes)
         SELECT 'AuditEvent', id, org_id, 1, recorded, recorded, false, content_hash, data, tokens, refs, texts,
                fhir_token_index_hashes(tokens), fhir_key_hashes(refs)
         FROM au_input
         RETURNING id, org_id, last_updated, resource_data)`,
      `au_history AS (
         INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
         SELECT 'AuditEvent', id, 1, org_id, last_updated, false, resource_data FROM au_cur)`,
      `au_string AS (
         INSERT INTO fhir_search_string (resource_type, id, param, value, exact)
         SELECT 'AuditEvent', id, param, value, exact
         FROM jsonb_to_recordset($2::jsonb -> 'strings') AS s(id text, param text, value text, exact text))`,
      `au_date AS (
         INSERT INTO fhir_search_date (resource_type, id, param, low, high)
         SELECT 'AuditEvent', id, param, low, high
         FROM jsonb_to_recordset($2::jsonb -> 'dates') AS d(id text, param text, low timestamptz, high timestamptz))`,
      `au_number AS (
         INSERT INTO fhir_search_number (resource_type, id, param, low, high, system, code)
         SELECT 'AuditEvent', id, param, low, high, system, code
         FROM jsonb_to_recordset($2::jsonb -> 'numbers') AS n(id text, param text, low numeric, high numeric, system text, code text))`,
    ],
    params: [JSON.stringify(rows), JSON.stringify(indexRows)],
  };
}

/** Stores a batch of AuditEvents in one statement. */
export async function insertAuditEvents(q: Queryable, indexing: AuditIndexing, pending: PendingAuditEvent[]): Promise<void> {
  if (pending.length === 0) return;
  const sql = auditEventsSql(indexing, pending);
  await q.query(`WITH ${sql.ctes.join(',\n')} SELECT count(*) FROM au_cur`, sql.params, { prepare: true });
}
