import { createGzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { notFound, OperationOutcomeError, outcome } from '../fhir/outcomes.js';
import { isOwner } from './access.js';
import type { ExportAudit } from './audit.js';
import { cancelJob, getFile, getJob, listFiles, listTypes, type ExportJob } from './job-store.js';
import { NDJSON } from './request.js';
import type { ExportStorage } from './storage.js';

export interface ExportRouteDeps {
  db: Database;
  storage: ExportStorage;
  audit?: ExportAudit;
  statusPath(jobId: string): string;
  fileUrl(jobId: string, name: string): string;
  /** told when a job was cancelled, so a worker of this server stops it at once */
  onCancelled?(jobId: string): void;
}

/** Seconds a client should wait between status polls of a running export. */
const POLL_RETRY_AFTER_SECONDS = 2;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * Status, cancellation and file download of bulk exports (Bulk Data Access IG v2.0.0). They need an access
 * token of the client (or user) that started the export, in the same org; anyone else is told the export does
 * not exist, so job ids cannot be probed.
 */
export async function exportRoutes(app: FastifyInstance, deps: ExportRouteDeps): Promise<void> {
  const path = deps.statusPath(':jobId');

  app.get(path, async (request, reply) => {
    const job = await ownJob(deps, request);
    if (job.status === 'queued' || job.status === 'running') {
      return reply
        .status(202)
        .headers({ 'x-progress': await progress(deps.db, job), 'retry-after': String(POLL_RETRY_AFTER_SECONDS) })
        .send();
    }
    if (job.status === 'failed') {
      return reply
        .status(500)
        .type(FHIR_JSON)
        .send(JSON.stringify(outcome('error', 'exception', job.error ?? 'The export failed')));
    }
    const files = await listFiles(deps.db, job.id);
    const entry = (kind: 'output' | 'error') =>
      files.filter((f) => f.kind === kind).map((f) => ({ type: f.resourceType, url: deps.fileUrl(job.id, f.name), count: f.count }));
    return reply
      .status(200)
      .type('application/json; charset=utf-8')
      .header('expires', new Date(job.expiresAt as string).toUTCString())
      .send(
        JSON.stringify({
          transactionTime: job.transactionTime,
          request: job.requestUrl,
          requiresAccessToken: true,
          output: entry('output'),
          error: entry('error'),
        }),
      );
  });

  app.delete(path, async (request, reply) => {
    const job = await ownJob(deps, request);
    await cancelJob(deps.db, job.id);
    await deps.storage.removeJob(job.id);
    deps.onCancelled?.(job.id);
    deps.audit?.cancelled(job, request.principal as Principal, request.ip);
    return reply
      .status(202)
      .type(FHIR_JSON)
      .send(JSON.stringify(outcome('information', 'informational', `Export ${job.id} ${job.status === 'completed' ? 'deleted' : 'cancelled'}; its files are removed`)));
  });

  app.get(`${path}/files/:name`, async (request, reply) => {
    const job = await ownJob(deps, request);
    if (job.status !== 'completed') throw notFound('The export has not completed: poll its status URL');
    const { name } = request.params as { name: string };
    const file = await getFile(deps.db, job.id, name);
    const stored = file && (await deps.storage.read(file.storageKey));
    if (!file || !stored) throw notFound(`Export ${job.id} has no file ${name}`);
    deps.audit?.downloaded(job, name, request.principal as Principal, request.ip);
    reply.type(NDJSON).header('cache-control', 'no-store');
    if (acceptsGzip(request)) {
      reply.header('content-encoding', 'gzip').header('vary', 'accept-encoding');
      return reply.send(stored.stream().pipe(createGzip({ level: 6 })));
    }
    return reply.header('content-length', String(stored.size)).send(stored.stream());
  });
}

/** The job of the URL, when the caller is its owner and it is still there for them; otherwise 401 or 404. */
async function ownJob(deps: ExportRouteDeps, request: FastifyRequest): Promise<ExportJob> {
  const principal = request.principal;
  if (!principal) {
    throw new OperationOutcomeError(401, outcome('error', 'login', 'A valid Bearer access token is required'), {
      'www-authenticate': request.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer',
    });
  }
  const { jobId } = request.params as { jobId: string };
  const job = await getJob(deps.db, jobId);
  if (!job || !isOwner(principal, job)) throw notFound(`No export ${jobId}`);
  if (job.status === 'cancelled') throw notFound(`Export ${jobId} was cancelled or deleted`);
  if (job.expiresAt && Date.parse(job.expiresAt) <= Date.now()) throw notFound(`Export ${jobId} has expired; its files are deleted`);
  return job;
}

async function progress(db: Database, job: ExportJob): Promise<string> {
  if (job.status === 'queued') return 'queued';
  const types = await listTypes(db, job.id);
  const done = types.filter((t) => t.done).length;
  const current = types.find((t) => !t.done);
  return `${job.exported} resources; ${done} of ${types.length} types done${current ? `; exporting ${current.resourceType}` : ''}`.slice(0, 100);
}

function acceptsGzip(request: FastifyRequest): boolean {
  const header = request.headers['accept-encoding'] ?? '';
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    if (coding.trim().toLowerCase() !== 'gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
