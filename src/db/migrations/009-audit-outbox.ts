/**
 * The record of each successful write, stored by the write's own statement and turned into AuditEvents in
 * batches (src/audit/audit-outbox.ts): one narrow row instead of an indexed AuditEvent resource per write.
 * Rows live here for about a second; the drain deletes them in the transaction that stores their events.
 * No key and no index: the drain takes whatever rows are there, by their physical address (ctid), locked, and
 * every write would otherwise pay for an index entry nobody looks up.
 */
export const sql = `
CREATE TABLE audit_outbox (
  org_id text NOT NULL,
  recorded timestamptz NOT NULL,
  interaction text NOT NULL,
  what text NOT NULL,
  agent_kind text NOT NULL,
  agent_subject text NOT NULL,
  agent_fhir_user text,
  address text
);
`;
