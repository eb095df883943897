import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_ORG_ID } from '../tenancy.js';
import { buildAuditEvent, outcomeOfStatus, type RestInteraction } from './audit-event.js';
import type { AuditBatchWriter } from './batch-writer.js';
import { scopeOfRequest } from './request-scope.js';

export interface FhirAccess {
  interaction: RestInteraction;
  /** the instance acted on, e.g. "Patient/123" */
  what?: string;
  /** the type acted on, for type-level interactions */
  whatType?: string;
  query?: string;
}

const WRITES = new Set<RestInteraction>(['create', 'update', 'patch', 'delete']);

/**
 * Which FHIR interaction a request to the FHIR endpoint is, for its AuditEvent; undefined for requests that
 * touch no health data (the capability statement, the SMART configuration).
 */
export function fhirAccessOf(method: string, url: string, body?: unknown): FhirAccess | undefined {
  const [pathPart, queryPart] = splitOnce(url, '?');
  const path = pathPart.replace(/^\/fhir\/?/, '');
  const parts = path.split('/').filter(Boolean);
  const query = queryPart || undefined;
  const [a, b, c, d] = parts;
  if (parts.length === 0) {
    if (method !== 'POST') return undefined;
    const type = (body as { type?: string } | undefined)?.type;
    return { interaction: type === 'transaction' ? 'transaction' : 'batch' };
  }
  if (a === 'metadata' || a === '.well-known') return undefined;
  if (a.startsWith('$')) return { interaction: 'operation', query: `${a}${query ? `?${query}` : ''}` };
  if (a === '_history') return { interaction: 'history-system', query };
  if (parts.length === 1) {
    if (method === 'POST') return { interaction: 'create', whatType: a };
    if (method === 'PUT') return { interaction: 'update', whatType: a, query };
    if (method === 'DELETE') return { interaction: 'delete', whatType: a, query };
    return { interaction: 'search-type', whatType: a, query };
  }
  if (parts.length === 2) {
    if (b === '_search') return { interaction: 'search-type', whatType: a, query };
    if (b === '_history') return { interaction: 'history-type', whatType: a, query };
    if (b.startsWith('$')) return { interaction: 'operation', whatType: a, query: `${b}${query ? `?${query}` : ''}` };
    const what = `${a}/${b}`;
    if (method === 'PUT') return { interaction: 'update', what };
    if (method === 'PATCH') return { interaction: 'patch', what };
    if (method === 'DELETE') return { interaction: 'delete', what };
    return { interaction: 'read', what };
  }
  if (c === '_history') return d ? { interaction: 'vread', what: `${a}/${b}/_history/${d}` } : { interaction: 'history-instance', what: `${a}/${b}`, query };
  if (c.startsWith('$')) return { interaction: 'operation', what: `${a}/${b}`, query: `${c}${query ? `?${query}` : ''}` };
  // compartment search, e.g. Patient/123/Encounter
  return { interaction: 'search-type', what: `${a}/${b}`, query: `${c}${query ? `?${query}` : ''}` };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Records every request to the FHIR endpoint that touches health data, whatever its outcome — including
 * requests without a token and requests the scopes refused. Successful writes were already recorded inside
 * their transaction; everything else goes through the batch writer, which folds each caller's successful
 * reads into one event per flush.
 */
export function registerFhirAudit(app: FastifyInstance, writer: AuditBatchWriter): void {
  app.addHook('onResponse', async (request: FastifyRequest, reply) => {
    if (!request.url.startsWith('/fhir')) return;
    const access = fhirAccessOf(request.method, request.url, request.body);
    if (!access) return;
    const status = reply.statusCode;
    const scope = scopeOfRequest(request);
    if (status < 400 && WRITES.has(access.interaction) && (scope?.auditedWrites ?? 0) > 0) return;
    const principal = request.principal;
    if (status < 400 && (access.interaction === 'read' || access.interaction === 'vread') && access.what) {
      writer.recordRead({ orgId: principal?.orgId ?? DEFAULT_ORG_ID, interaction: access.interaction, principal, address: request.ip, what: access.what });
      return;
    }
    writer.enqueue({
      orgId: principal?.orgId ?? DEFAULT_ORG_ID,
      event: buildAuditEvent({ ...access, ...outcomeOfStatus(status), principal, address: request.ip }),
    });
  });
  app.addHook('onClose', async () => {
    await writer.close();
  });
}
