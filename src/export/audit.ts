import type { Principal } from '../auth/principal.js';
import { buildAuditEvent, type AuditOutcome } from '../audit/audit-event.js';
import type { PendingAuditEvent } from '../audit/audit-store.js';
import type { ExportJob } from './job-store.js';

/**
 * The audit trail of bulk exports: the kick-off with the job's whole request (POST parameters included), the
 * end of the job with how many resources left the server, every file download, and cancellations. The HTTP
 * audit records the kick-off request too, but it cannot see the job, and status and file URLs are outside
 * /fhir.
 */
export interface ExportAudit {
  kickedOff(job: ExportJob, principal: Principal, address?: string): void;
  exportFinished(job: ExportJob, exported: number, outcome: AuditOutcome): void;
  downloaded(job: ExportJob, fileName: string, principal: Principal, address?: string): void;
  cancelled(job: ExportJob, principal: Principal, address?: string): void;
}

export function exportAudit(sink: { enqueue(event: PendingAuditEvent): void }): ExportAudit {
  const record = (job: ExportJob, principal: Principal, query: string, outcome: AuditOutcome = '0', address?: string) =>
    sink.enqueue({
      orgId: job.orgId,
      event: buildAuditEvent({
        interaction: 'operation',
        outcome,
        ...(outcome === '0' ? {} : { outcomeDesc: 'export failed' }),
        principal,
        address,
        query,
      }),
    });
  // The job's owner, for events the worker records after the request that started the job has ended.
  const owner = (job: ExportJob): Principal => ({ orgId: job.orgId, kind: job.clientKind, subject: job.clientId, scopes: [] });
  return {
    kickedOff: (job, principal, address) => record(job, principal, `$export job ${job.id} created: ${job.requestUrl}`, '0', address),
    exportFinished: (job, exported, outcome) =>
      record(job, owner(job), `$export job ${job.id} ${outcome === '0' ? 'completed' : 'failed'}: ${exported} resources`, outcome),
    downloaded: (job, fileName, principal, address) => record(job, principal, `$export job ${job.id} file ${fileName} downloaded`, '0', address),
    cancelled: (job, principal, address) => record(job, principal, `$export job ${job.id} cancelled or deleted`, '0', address),
  };
}
