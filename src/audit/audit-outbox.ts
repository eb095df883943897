import type { Database } from '../db/database.js';
import type { AuditAgent } from './audit-event.js';
import { insertAuditEvents, type AuditIndexing, type AuditSql, type PendingAuditEvent } from './audit-store.js';
import { AccessFolder, type Access } from './fold.js';

/** Outbox rows taken per drain transaction. */
export const DRAIN_BATCH = 2000;

export interface WriteRecord {
  orgId: string;
  interaction: 'create' | 'update' | 'delete';
  principal: AuditAgent;
  address?: string;
  /** the version written, e.g. "Patient/123/_history/2" */
  what: string;
  at: Date;
}

/**
 * The record of a successful write as a data-modifying CTE of the write's own statement: a narrow outbox row,
 * stored only when the CTE named `gate` returned a row (the write really happened). The change and its record
 * commit or roll back together; drainAuditOutbox turns the records into AuditEvents about a second later.
 */
export function outboxRecordSql(record: WriteRecord, opts: { firstParam: number; gate: string }): AuditSql {
  const n = opts.firstParam;
  return {
    ctes: [
      `au_outbox AS (
         INSERT INTO audit_outbox (org_id, recorded, interaction, what, agent_kind, agent_subject, agent_fhir_user, address)
         SELECT $${n}, $${n + 1}::timestamptz, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7}
         WHERE EXISTS (SELECT 1 FROM ${opts.gate}))`,
    ],
    params: [
      record.orgId,
      record.at.toISOString(),
      record.interaction,
      record.what,
      record.principal.kind,
      record.principal.subject,
      record.principal.fhirUser ?? null,
      record.address ?? null,
    ],
  };
}

interface OutboxRow {
  org_id: string;
  recorded: Date;
  interaction: WriteRecord['interaction'];
  what: string;
  agent_kind: AuditAgent['kind'];
  agent_subject: string;
  agent_fhir_user: string | null;
  address: string | null;
}

/**
 * Moves waiting write records into AuditEvents (folded per caller, see AccessFolder), a batch per
 * transaction: the rows are deleted in the transaction that stores their events, so a record is never lost
 * and never stored twice. Rows another server is draining are skipped (SKIP LOCKED). Returns how many
 * records were moved.
 */
export async function drainAuditOutbox(db: Database, indexing: AuditIndexing, opts: { batch?: number } = {}): Promise<number> {
  const batch = opts.batch ?? DRAIN_BATCH;
  return db.transaction(async (tx) => {
    const r = await tx.query<OutboxRow>(
      // The rows are locked by the subquery, so their ctids stay theirs until this transaction ends.
      `DELETE FROM audit_outbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM audit_outbox LIMIT $1 FOR UPDATE SKIP LOCKED))
       RETURNING org_id, recorded, interaction, what, agent_kind, agent_subject, agent_fhir_user, address`,
      [batch],
    );
    if (r.rows.length === 0) return 0;
    const events: PendingAuditEvent[] = [];
    const folder = new AccessFolder((event) => events.push(event));
    const rows = [...r.rows].sort((a, b) => new Date(a.recorded).getTime() - new Date(b.recorded).getTime());
    for (const row of rows) folder.add(accessOf(row));
    events.push(...folder.takeAll());
    await insertAuditEvents(tx, indexing, events);
    return r.rows.length;
  });
}

function accessOf(row: OutboxRow): Access {
  return {
    orgId: row.org_id,
    interaction: row.interaction,
    principal: { kind: row.agent_kind, subject: row.agent_subject, fhirUser: row.agent_fhir_user ?? undefined },
    address: row.address ?? undefined,
    what: row.what,
    at: new Date(row.recorded),
  };
}
