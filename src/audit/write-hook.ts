import type { Queryable } from '../db/database.js';
import type { RepositoryContext, ResourceChange } from '../fhir/repository/repository.js';
import { buildAuditEvent } from './audit-event.js';
import { insertAuditEvents, type AuditIndexing } from './audit-store.js';
import { requestScope } from './request-scope.js';

/**
 * The repository's onWrite hook: the AuditEvent of a create, update or delete is written in the same
 * transaction as the change, so there is never a change without its record. Writes with no caller (the
 * server's own jobs, imports) are not accesses by anyone and are not recorded here.
 */
export function auditWrites(indexing: AuditIndexing) {
  return async (tx: Queryable, ctx: RepositoryContext, change: ResourceChange): Promise<void> => {
    if (change.resourceType === 'AuditEvent') return;
    const scope = requestScope.getStore();
    const principal = ctx.principal ?? scope?.principal;
    if (!principal) return;
    const event = buildAuditEvent({
      interaction: change.interaction,
      outcome: '0',
      principal,
      address: scope?.address,
      what: `${change.resourceType}/${change.id}/_history/${change.versionId}`,
    });
    await insertAuditEvents(tx, indexing, [{ orgId: ctx.orgId, event }]);
    if (scope) scope.auditedWrites++;
  };
}
