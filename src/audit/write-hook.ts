import type { RepositoryContext, ResourceChange } from '../fhir/repository/repository.js';
import { outboxRecordSql } from './audit-outbox.js';
import type { AuditSql } from './audit-store.js';
import { requestScope } from './request-scope.js';

/**
 * The repository's write-statement hook: the record of a create, update or delete is stored by the same
 * statement as the change (gated on the CTE that wrote it), so there is never a change without its record
 * and never a record of a change that did not happen. The record is an audit_outbox row; the audit writer
 * turns it into an AuditEvent within about a second (audit-outbox.ts). Writes with no caller (the server's
 * own jobs, imports) are not accesses by anyone and are not recorded here.
 */
export function auditWriteSql(ctx: RepositoryContext, change: ResourceChange, opts: { firstParam: number; gate: string }): AuditSql | undefined {
  if (change.resourceType === 'AuditEvent') return undefined;
  const scope = requestScope.getStore();
  const principal = ctx.principal ?? scope?.principal;
  if (!principal) return undefined;
  // Counted when the statement is built: if it then fails, the request fails and is audited as a failure.
  if (scope) scope.auditedWrites++;
  return outboxRecordSql(
    {
      orgId: ctx.orgId,
      interaction: change.interaction,
      principal,
      address: scope?.address,
      what: `${change.resourceType}/${change.id}/_history/${change.versionId}`,
      at: new Date(),
    },
    opts,
  );
}
