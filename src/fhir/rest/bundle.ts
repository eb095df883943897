import type { Bundle, BundleEntry, BundleEntryResponse, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { badRequest, normalizeError, OperationOutcomeError, outcome, preconditionFailed } from '../outcomes.js';
import { newResourceId } from '../repository/ids.js';
import type { FhirRepository } from '../repository/repository.js';
import { locatedResponse, parseQueryString, preferHeader } from './router.js';
import type { FhirContext, FhirRequest, FhirResponse } from './types.js';

export type RouteFn = (req: FhirRequest, ctx: FhirContext) => Promise<FhirResponse>;

/** Transaction processing order (http.html#trules): DELETE, then POST, then PUT/PATCH, then GET/HEAD. */
const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
const MAX_ENTRIES = 10_000;

/**
 * POST /fhir with a batch or transaction Bundle. Each entry is routed like a REST call; a transaction runs in
 * ONE database transaction and fails as a whole.
 */
export async function processBundle(req: FhirRequest, ctx: FhirContext, route: RouteFn): Promise<FhirResponse> {
  const bundle = req.body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw badRequest('POST to the FHIR base needs a Bundle of type batch or transaction', 'Bundle');
  }
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw badRequest(`Bundle.type must be batch or transaction, not '${String(bundle.type)}'`, 'Bundle.type');
  }
  const entries = bundle.entry ?? [];
  if (entries.length > MAX_ENTRIES) throw badRequest(`A Bundle may hold at most ${MAX_ENTRIES} entries`, 'Bundle.entry');
  entries.forEach((entry, i) => checkEntry(entry, i, bundle.type === 'transaction'));
  const returnPref = preferHeader(req, 'return');

  if (bundle.type === 'batch') {
    const responses: BundleEntry[] = [];
    for (const entry of entries) {
      try {
        responses.push(toResponseEntry(await route(entryRequest(entry, req), ctx), returnPref));
      } catch (err) {
        const e = normalizeError(err);
        responses.push({ response: { status: statusLine(e.status), outcome: e.outcome } });
      }
    }
    return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: responses } };
  }

  const responses = await ctx.repo.withTransaction(async (txRepo) => {
    const txCtx: FhirContext = { ...ctx, repo: txRepo };
    const resolved = await resolveTransactionReferences(entries, txRepo);
    const result: BundleEntry[] = new Array(entries.length);
    const order = entries.map((_, i) => i).sort((a, b) => ORDER[entries[a].request!.method] - ORDER[entries[b].request!.method] || a - b);
    for (const i of order) {
      const entry = resolved[i];
      try {
        const method = entry.request!.method;
        const assignedId = method === 'POST' ? resolvedIds.get(entry) : undefined;
        if (assignedId?.existing) {
          // The match of ifNoneExist: 200 with its location, so the client learns its id (see writeResponse).
          const existing = await txRepo.read(entry.resource!.resourceType, assignedId.id);
          result[i] = toResponseEntry(locatedResponse(200, existing), returnPref);
        } else if (assignedId) {
          ctx.access.assertInteraction('create', entry.resource!.resourceType);
          ctx.access.assertResource('create', entry.resource!);
          const created = await txRepo.create(entry.resource!, { assignedId: assignedId.id });
          result[i] = toResponseEntry(locatedResponse(201, created.resource), returnPref);
        } else {
          result[i] = toResponseEntry(await route(entryRequest(entry, req), txCtx), returnPref);
        }
      } catch (err) {
        const e = normalizeError(err);
        // The whole transaction fails; say which entry made it fail.
        const issue = e.outcome.issue.map((iss) => ({
          ...iss,
          diagnostics: `Bundle.entry[${i}] (${entry.request!.method} ${entry.request!.url}): ${iss.diagnostics ?? ''}`,
          expression: iss.expression?.map((x) => `Bundle.entry[${i}].resource.${x.replace(/^[A-Z][A-Za-z]+\./, '')}`) ?? [`Bundle.entry[${i}]`],
        }));
        throw new OperationOutcomeError(e.status, { resourceType: 'OperationOutcome', issue } as OperationOutcome, e.headers);
      }
    }
    return result;
  });
  return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: responses } };
}

function checkEntry(entry: BundleEntry, i: number, transaction: boolean): void {
  const method = entry.request?.method;
  if (!method || !(method in ORDER)) throw badRequest(`Bundle.entry[${i}].request.method is missing or not supported`, `Bundle.entry[${i}].request.method`);
  const url = entry.request?.url?.replace(/^\//, '');
  if (!url || url.startsWith('?')) throw badRequest(`Bundle.entry[${i}].request.url is missing or names no resource type`, `Bundle.entry[${i}].request.url`);
  // Operations keep their own transactions and connections (scheduling, meetings, export); inside the Bundle's
  // transaction they would wait for it, and on the embedded database's single connection forever.
  if (transaction && url.split('?')[0].split('/').some((part) => part.startsWith('$'))) {
    throw badRequest(`Bundle.entry[${i}]: operations cannot run inside a transaction Bundle; send them on their own or in a batch`, `Bundle.entry[${i}].request.url`);
  }
  if ((method === 'POST' || method === 'PUT') && !entry.resource) {
    throw badRequest(`Bundle.entry[${i}] (${method}) needs a resource`, `Bundle.entry[${i}].resource`);
  }
}

function entryRequest(entry: BundleEntry, outer: FhirRequest): FhirRequest {
  const url = entry.request!.url.replace(/^\//, '');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? {} : parseQueryString(url.slice(q + 1));
  const method = entry.request!.method as FhirRequest['method'];
  return {
    method,
    path,
    query,
    body: method === 'PATCH' ? patchBody(entry) : entry.resource,
    headers: {
      'content-type': method === 'PATCH' ? 'application/json-patch+json' : 'application/fhir+json',
      'if-match': entry.request!.ifMatch,
      'if-none-exist': entry.request!.ifNoneExist,
      prefer: outer.headers.prefer,
    },
  };
}

/** In a Bundle a JSON Patch travels as a Binary whose data is the base64 patch document. */
function patchBody(entry: BundleEntry): unknown {
  const r = entry.resource as (Resource & { data?: string }) | undefined;
  if (r?.resourceType === 'Binary' && r.data) return JSON.parse(Buffer.from(r.data, 'base64').toString('utf8'));
  throw badRequest('A PATCH entry needs a Binary resource holding the JSON Patch');
}

function toResponseEntry(res: FhirResponse, returnPref: string | undefined): BundleEntry {
  const response: BundleEntryResponse = { status: statusLine(res.status) };
  if (res.headers?.location) response.location = res.headers.location;
  if (res.headers?.etag) response.etag = res.headers.etag;
  if (res.body && 'meta' in res.body && res.body.meta?.lastUpdated) response.lastModified = res.body.meta.lastUpdated;
  const entry: BundleEntry = { response };
  if (res.body && returnPref !== 'minimal') {
    if (res.body.resourceType === 'OperationOutcome') response.outcome = res.body;
    else entry.resource = res.body;
  }
  return entry;
}

const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed', 422: 'Unprocessable Entity' };
function statusLine(status: number): string {
  return `${status}${REASONS[status] ? ` ${REASONS[status]}` : ''}`;
}

const resolvedIds = new WeakMap<BundleEntry, { id: string; existing: boolean }>();

/**
 * Gives every POST entry its id before anything is written, then rewrites references in all entries:
 * urn:uuid fullUrls of created entries and conditional references (Type?criteria, exactly one match).
 */
async function resolveTransactionReferences(entries: BundleEntry[], repo: FhirRepository): Promise<BundleEntry[]> {
  const map = new Map<string, string>();
  for (const [i, entry] of entries.entries()) {
    if (entry.request!.method !== 'POST' || !entry.resource) continue;
    const type = entry.resource.resourceType;
    let target: { id: string; existing: boolean } = { id: newResourceId(), existing: false };
    if (entry.request!.ifNoneExist) {
      const matches = await repo.search(type, { ...parseQueryString(entry.request!.ifNoneExist), _count: '2', _elements: 'id' }, { strict: true });
      const found = (matches.entry ?? []).filter((e) => e.search?.mode === 'match');
      if (found.length > 1) throw preconditionFailed(`Bundle.entry[${i}]: ifNoneExist matched ${found.length} resources`);
      if (found.length === 1) target = { id: found[0].resource!.id!, existing: true };
    }
    if (entry.fullUrl) map.set(entry.fullUrl, `${type}/${target.id}`);
    resolvedIds.set(entry, target);
  }
  const conditional = new Map<string, string>();
  for (const entry of entries) collectConditionalReferences(entry.resource, conditional);
  for (const ref of conditional.keys()) {
    const [type, query] = [ref.slice(0, ref.indexOf('?')), ref.slice(ref.indexOf('?') + 1)];
    const matches = await repo.search(type, { ...parseQueryString(query), _count: '2', _elements: 'id' }, { strict: true });
    const found = (matches.entry ?? []).filter((e) => e.search?.mode === 'match');
    if (found.length !== 1) {
      throw new OperationOutcomeError(
        found.length === 0 ? 404 : 412,
        outcome('error', found.length === 0 ? 'not-found' : 'multiple-matches', `Conditional reference '${ref}' matched ${found.length} resources; it must match exactly one`),
      );
    }
    map.set(ref, `${type}/${found[0].resource!.id}`);
  }
  if (map.size === 0) return entries;
  return entries.map((entry) => {
    if (!entry.resource) return entry;
    const rewritten = { ...entry, resource: rewriteReferences(entry.resource, map) };
    const target = resolvedIds.get(entry);
    if (target) resolvedIds.set(rewritten, target);
    return rewritten;
  });
}

const CONDITIONAL_REF = /^[A-Z][A-Za-z]+\?.+/;

function collectConditionalReferences(value: unknown, into: Map<string, string>): void {
  if (Array.isArray(value)) return value.forEach((v) => collectConditionalReferences(v, into));
  if (!value || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'reference' && typeof v === 'string' && CONDITIONAL_REF.test(v)) into.set(v, '');
    else collectConditionalReferences(v, into);
  }
}

function rewriteReferences<T>(value: T, map: Map<string, string>): T {
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, map)) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === 'reference' && typeof v === 'string' && map.has(v) ? map.get(v) : rewriteReferences(v, map);
  }
  return out as T;
}
