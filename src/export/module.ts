import type { FastifyInstance } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { requestScope } from '../audit/request-scope.js';
import type { PendingAuditEvent } from '../audit/audit-store.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { FhirOperation } from '../fhir/rest/router.js';
import { exportAudit } from './audit.js';
import { exportOperations } from './kickoff.js';
import { exportRoutes } from './routes.js';
import { LocalDiskExportStorage, type ExportStorage } from './storage.js';
import { ExportWorker, type WorkerLog } from './worker.js';

export interface BulkExportDeps {
  config: Config;
  db: Database;
  /** where AuditEvents of exports go (the server's audit writer) */
  auditWriter?: { enqueue(event: PendingAuditEvent): void };
  storage?: ExportStorage;
  /** the caller of the current request; by default the one the authentication layer put in the request scope */
  currentPrincipal?(): Principal | undefined;
}

export interface BulkExport {
  operations: FhirOperation[];
  /** registers the status and file routes, and runs the worker (when configured) while the server is up */
  register(app: FastifyInstance): Promise<void>;
  storage: ExportStorage;
  /** undefined when this server does not run export jobs (EXPORT_WORKER=false) */
  worker?: ExportWorker;
}

const STATUS_PREFIX = '/bulk-export';

/** FHIR Bulk Data export: kick-off operations, status and file routes, and the job worker, wired together. */
export function createBulkExport(deps: BulkExportDeps): BulkExport {
  const { config, db } = deps;
  const settings = config.bulkExport;
  const storage = deps.storage ?? new LocalDiskExportStorage(settings.dir);
  const audit = deps.auditWriter ? exportAudit(deps.auditWriter) : undefined;
  const fhirBaseUrl = `${config.publicBaseUrl}/fhir`;
  const statusPath = (jobId: string) => `${STATUS_PREFIX}/${jobId}`;
  // The server's logger is known once the routes are registered; the worker logs through it from then on.
  let appLog: WorkerLog | undefined;
  const log: WorkerLog = { info: (obj, msg) => appLog?.info(obj, msg), error: (obj, msg) => appLog?.error(obj, msg) };
  const worker = settings.worker ? new ExportWorker({ db, storage, settings, baseUrl: fhirBaseUrl, audit, log }) : undefined;

  const operations = exportOperations({
    db,
    maxConcurrentPerClient: settings.maxConcurrentPerClient,
    fhirBaseUrl,
    statusUrl: (jobId) => `${config.publicBaseUrl}${statusPath(jobId)}`,
    currentPrincipal: deps.currentPrincipal ?? (() => requestScope.getStore()?.principal),
    currentAddress: () => requestScope.getStore()?.address,
    audit,
    onQueued: () => worker?.wake(),
  });

  return {
    operations,
    storage,
    worker,
    async register(app) {
      appLog = app.log;
      await app.register(exportRoutes, {
        db,
        storage,
        audit,
        statusPath,
        fileUrl: (jobId, name) => `${config.publicBaseUrl}${statusPath(jobId)}/files/${encodeURIComponent(name)}`,
        onCancelled: (jobId) => worker?.interrupt(jobId),
      });
      if (worker) {
        app.addHook('onReady', async () => worker.start());
        app.addHook('onClose', async () => worker.stop());
      }
    },
  };
}
