import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.js';
import { contentHash, withServerMeta } from '../fhir/repository/meta.js';
import type { ResourceIndexes } from '../fhir/search/types.js';

/** The search module's functions the audit store indexes its events with. */
export interface AuditIndexing {
  extractIndexes(resource: AuditEvent): ResourceIndexes;
  writeIndexRows(tx: Queryable, resourceType: string, id: string, indexes: ResourceIndexes, opts: { isNew: boolean }): Promise<void>;
  /** All events' index rows in one statement; when absent, one statement per event. */
  writeNewIndexRows?(tx: Queryable, resourceType: string, items: { id: string; indexes: ResourceIndexes }[]): Promise<void>;
}

export interface PendingAuditEvent {
  orgId: string;
  event: AuditEvent;
}

/**
 * Stores AuditEvents as ordinary FHIR resources of their org (so admins search them through the FHIR API), but
 * without the repository's validation: they are built by buildAuditEvent, whose output a test validates, and
 * this path runs for every request. Many events go in one statement.
 */
export async function insertAuditEvents(tx: Queryable, indexing: AuditIndexing, pending: PendingAuditEvent[]): Promise<void> {
  if (pending.length === 0) return;
  const rows = pending.map(({ orgId, event }) => {
    const id = randomUUID();
    const stored = withServerMeta(event, id, 1, event.recorded as string);
    return { orgId, id, stored, indexes: indexing.extractIndexes(stored) };
  });
  // Per-row arrays (tokens, refs) travel as JSON text: unnest() would flatten a two-dimensional array.
  await tx.query(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[])
         AS u(id, org_id, recorded, content_hash, data, tokens, refs)),
     cur AS (
       INSERT INTO fhir_resources
         (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs)
       SELECT 'AuditEvent', id, org_id, 1, recorded, recorded, false, content_hash, data::jsonb,
              ARRAY(SELECT jsonb_array_elements_text(tokens::jsonb)), ARRAY(SELECT jsonb_array_elements_text(refs::jsonb))
       FROM input
       RETURNING id, org_id, last_updated, resource_data)
     INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
     SELECT 'AuditEvent', id, 1, org_id, last_updated, false, resource_data FROM cur`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.orgId),
      rows.map((r) => r.stored.recorded),
      rows.map((r) => contentHash(r.stored)),
      rows.map((r) => JSON.stringify(r.stored)),
      rows.map((r) => JSON.stringify(r.indexes.tokens)),
      rows.map((r) => JSON.stringify(r.indexes.refs)),
    ],
  );
  if (indexing.writeNewIndexRows) await indexing.writeNewIndexRows(tx, 'AuditEvent', rows);
  else for (const r of rows) await indexing.writeIndexRows(tx, 'AuditEvent', r.id, r.indexes, { isNew: true });
}
