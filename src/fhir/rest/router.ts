import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Operation } from 'fast-json-patch';
import { badRequest, notFound, notSupported, allOk, OperationOutcomeError, outcome } from '../outcomes.js';
import { isR4ResourceType } from '../resource-types.js';
import type { SearchQuery, WriteResult } from '../repository/repository.js';
import type { FhirContext, FhirRequest, FhirResponse } from './types.js';

/**
 * An operation such as Patient/$everything or $export. Registered by the module that implements it, so the
 * router stays free of domain code.
 */
export type OperationHandler = (req: FhirRequest, ctx: FhirContext, target: { resourceType?: string; id?: string }) => Promise<FhirResponse>;

/** An operation a module offers: key as the router finds it ("Appointment/$find", "$export"), its definition URL. */
export interface FhirOperation {
  key: string;
  definition: string;
  handler: OperationHandler;
}

export interface RouterOptions {
  operations: Map<string, OperationHandler>;
  capabilityStatement: () => Resource;
  /** Bundle (batch/transaction) processing; it calls back into routeFhirRequest for each entry. */
  processBundle?: (req: FhirRequest, ctx: FhirContext) => Promise<FhirResponse>;
}

const COMPARTMENT_OWNERS = new Set(['Patient', 'Practitioner', 'RelatedPerson', 'Encounter', 'Device']);

/**
 * Dispatches one FHIR interaction (spec page http.html) to the repository. Plain function: the HTTP layer and
 * the Bundle processor both call it, and it can be tested without a server.
 */
export async function routeFhirRequest(req: FhirRequest, ctx: FhirContext, opts: RouterOptions): Promise<FhirResponse> {
  const parts = req.path.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  const method = req.method === 'HEAD' ? 'GET' : req.method;

  if (parts.length === 0) {
    if (method === 'POST' && opts.processBundle) return opts.processBundle(req, ctx);
    throw notSupported(`${method} on the FHIR base is not supported`);
  }
  if (first === 'metadata' && parts.length === 1 && method === 'GET') return { status: 200, body: opts.capabilityStatement() };
  if (first.startsWith('$')) return operation(req, ctx, opts, first, {});
  if (first === '_history' && parts.length === 1 && method === 'GET') {
    ctx.access.assertInteraction('history', undefined);
    return { status: 200, body: await ctx.repo.history(undefined, undefined, historyOptions(req)) };
  }

  const type = first;
  if (!isR4ResourceType(type)) throw new OperationOutcomeError(404, outcome('error', 'not-supported', `Unknown resource type '${type}'`));

  if (parts.length === 1) {
    switch (method) {
      case 'GET':
        return search(req, ctx, type, req.query);
      case 'POST':
        return create(req, ctx, type);
      case 'PUT':
        return conditionalUpdate(req, ctx, type);
      case 'DELETE':
        ctx.access.assertInteraction('delete', type);
        await ctx.repo.conditionalDelete(type, withoutControlParams(req.query));
        return { status: 204 };
    }
  }
  if (parts.length === 2) {
    if (second === '_search' && method === 'POST') return search(req, ctx, type, mergeQuery(req.query, req.body));
    if (second === '_history' && method === 'GET') {
      ctx.access.assertInteraction('history', type);
      return { status: 200, body: await ctx.repo.history(type, undefined, historyOptions(req)) };
    }
    if (second.startsWith('$')) return operation(req, ctx, opts, second, { resourceType: type });
    const id = second;
    switch (method) {
      case 'GET': {
        ctx.access.assertInteraction('read', type);
        if (req.acceptsJsonText && ctx.access.allowsAnyResource?.('read', type)) {
          const stored = await ctx.repo.readJson(type, id);
          return { status: 200, json: stored.json, headers: versionHeaders(stored.versionId, stored.lastUpdated) };
        }
        const resource = await ctx.repo.read(type, id);
        ctx.access.assertResource('read', resource);
        return resourceResponse(200, resource);
      }
      case 'PUT':
        return update(req, ctx, type, id);
      case 'PATCH':
        return patch(req, ctx, type, id);
      case 'DELETE': {
        ctx.access.assertInteraction('delete', type);
        const resource = await ctx.repo.readIfExists(type, id);
        if (resource) ctx.access.assertResource('delete', resource);
        await ctx.repo.delete(type, id);
        return { status: 204 };
      }
    }
  }
  if (parts.length === 3 && method === 'GET') {
    if (third === '_history') {
      ctx.access.assertInteraction('history', type);
      const current = await ctx.repo.readIfExists(type, second);
      if (current) ctx.access.assertResource('history', current);
      return { status: 200, body: await ctx.repo.history(type, second, historyOptions(req)) };
    }
    if (third.startsWith('$')) return operation(req, ctx, opts, third, { resourceType: type, id: second });
    if (COMPARTMENT_OWNERS.has(type) && isR4ResourceType(third)) {
      ctx.access.assertInteraction('search', third);
      const query = restrict(withoutControlParams(req.query), ctx.access.searchCriteria(third));
      const strict = preferHeader(req, 'handling') === 'strict';
      return { status: 200, body: visibleEntries(await ctx.repo.searchCompartment(type, second, third, query, { strict }), ctx) };
    }
  }
  if (parts.length === 3 && third.startsWith('$') && method === 'POST') {
    return operation(req, ctx, opts, third, { resourceType: type, id: second });
  }
  if (parts.length === 4 && third === '_history' && method === 'GET') {
    ctx.access.assertInteraction('vread', type);
    const resource = await ctx.repo.vread(type, second, fourth);
    ctx.access.assertResource('vread', resource);
    return resourceResponse(200, resource);
  }
  throw notFound(`No FHIR interaction ${req.method} ${req.path}`);
}

async function operation(
  req: FhirRequest,
  ctx: FhirContext,
  opts: RouterOptions,
  name: string,
  target: { resourceType?: string; id?: string },
): Promise<FhirResponse> {
  const key = target.resourceType ? `${target.resourceType}/${name}` : name;
  const handler = opts.operations.get(key) ?? (target.resourceType ? undefined : opts.operations.get(name));
  if (!handler) throw notFound(`Operation ${key} is not supported`);
  return handler(req, ctx, target);
}

async function search(req: FhirRequest, ctx: FhirContext, type: string, query: SearchQuery): Promise<FhirResponse> {
  ctx.access.assertInteraction('search', type);
  const strict = preferHeader(req, 'handling') === 'strict';
  const bundle = await ctx.repo.search(type, restrict(query, ctx.access.searchCriteria(type)), { strict });
  return { status: 200, body: visibleEntries(bundle, ctx) };
}

/** The caller's own restriction (e.g. a patient's compartment) is ANDed with what they asked for. */
function restrict(query: SearchQuery, restriction: Record<string, string> | undefined): SearchQuery {
  if (!restriction) return query;
  const merged: SearchQuery = { ...query };
  for (const [k, v] of Object.entries(restriction)) {
    const prev = merged[k];
    merged[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  return merged;
}

/**
 * Search criteria restrict the matches; resources pulled in by _include/_revinclude are checked one by one,
 * and those the caller may not read are left out.
 */
function visibleEntries(bundle: Bundle, ctx: FhirContext): Bundle {
  if (!bundle.entry) return bundle;
  const entry = bundle.entry.filter((e) => {
    if (!e.resource || e.search?.mode === 'outcome') return true;
    try {
      ctx.access.assertResource('read', e.resource);
      return true;
    } catch {
      return false;
    }
  });
  return entry.length === bundle.entry.length ? bundle : { ...bundle, entry };
}

async function create(req: FhirRequest, ctx: FhirContext, type: string): Promise<FhirResponse> {
  ctx.access.assertInteraction('create', type);
  const resource = bodyResource(req, type);
  ctx.access.assertResource('create', resource);
  const ifNoneExist = req.headers['if-none-exist'];
  const result = await ctx.repo.create(resource, ifNoneExist ? { ifNoneExist: parseQueryString(ifNoneExist) } : {});
  return writeResponse(req, result);
}

async function update(req: FhirRequest, ctx: FhirContext, type: string, id: string): Promise<FhirResponse> {
  ctx.access.assertInteraction('update', type);
  const resource = bodyResource(req, type);
  if (resource.id === undefined) throw badRequest('The body of an update must carry the id of the URL', `${type}.id`);
  if (resource.id !== id) throw badRequest(`The body's id '${resource.id}' does not match the URL's id '${id}'`, `${type}.id`);
  const existing = await ctx.repo.readIfExists(type, id);
  if (existing) ctx.access.assertResource('update', existing);
  ctx.access.assertResource('update', resource);
  const result = await ctx.repo.update(resource, { ifMatch: ifMatch(req) });
  return writeResponse(req, result);
}

async function conditionalUpdate(req: FhirRequest, ctx: FhirContext, type: string): Promise<FhirResponse> {
  ctx.access.assertInteraction('update', type);
  const criteria = withoutControlParams(req.query);
  if (Object.keys(criteria).length === 0) throw badRequest('A conditional update needs search criteria in the URL');
  const resource = bodyResource(req, type);
  ctx.access.assertResource('update', resource);
  return writeResponse(req, await ctx.repo.conditionalUpdate(resource, criteria));
}

async function patch(req: FhirRequest, ctx: FhirContext, type: string, id: string): Promise<FhirResponse> {
  ctx.access.assertInteraction('patch', type);
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.includes('json-patch+json')) {
    throw new OperationOutcomeError(415, outcome('error', 'not-supported', 'PATCH needs Content-Type application/json-patch+json'));
  }
  const existing = await ctx.repo.readIfExists(type, id);
  if (existing) ctx.access.assertResource('patch', existing);
  const result = await ctx.repo.patch(type, id, req.body as Operation[], { ifMatch: ifMatch(req) });
  return writeResponse(req, result);
}

function bodyResource(req: FhirRequest, type: string): Resource {
  const body = req.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a FHIR resource (a JSON object)');
  const resourceType = (body as { resourceType?: unknown }).resourceType;
  if (resourceType !== type) {
    throw badRequest(`The body's resourceType '${String(resourceType)}' does not match the URL's type '${type}'`, 'resourceType');
  }
  return body as Resource;
}

function writeResponse(req: FhirRequest, result: WriteResult): FhirResponse {
  const status = result.outcome === 'created' ? 201 : 200;
  const headers = versionHeaders(result.resource.meta?.versionId, result.resource.meta?.lastUpdated);
  // A conditional create that found its match answers 200 with the match's location, as to a create: under
  // `Prefer: return=minimal` that is the only way a client learns which resource it is.
  const located = result.outcome === 'created' || result.outcome === 'existing';
  const withLocation = located ? { ...headers, location: versionLocation(result.resource) } : headers;
  switch (preferHeader(req, 'return')) {
    case 'minimal':
      return { status, headers: withLocation };
    case 'OperationOutcome':
      return { status, headers: withLocation, body: allOk(`${result.resource.resourceType}/${result.resource.id} ${result.outcome}`) };
    default:
      // The text just stored is the body, when the caller takes text (see FhirRequest.acceptsJsonText).
      if (req.acceptsJsonText && result.json !== undefined) return { status, headers: withLocation, json: result.json };
      return { status, headers: withLocation, body: result.resource };
  }
}

/** Location of the version just written; the HTTP layer makes it absolute. */
function versionLocation(resource: Resource): string {
  return `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
}

export function resourceResponse(status: number, resource: Resource): FhirResponse {
  return { status, body: resource, headers: versionHeaders(resource.meta?.versionId, resource.meta?.lastUpdated) };
}

/** resourceResponse with the location of the resource's version: a create, or the match of a conditional create. */
export function locatedResponse(status: number, resource: Resource): FhirResponse {
  const response = resourceResponse(status, resource);
  response.headers = { ...response.headers, location: versionLocation(resource) };
  return response;
}

function versionHeaders(versionId: string | undefined, lastUpdated: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (versionId) headers.etag = `W/"${versionId}"`;
  if (lastUpdated) headers['last-modified'] = new Date(lastUpdated).toUTCString();
  return headers;
}

function ifMatch(req: FhirRequest): string | undefined {
  const value = req.headers['if-match'];
  if (!value) return undefined;
  const m = /^(?:W\/)?"?([^"]*)"?$/.exec(value.trim());
  if (!m || m[1] === '') throw badRequest(`If-Match '${value}' is not an ETag such as W/"3"`);
  return m[1];
}

export function preferHeader(req: FhirRequest, key: string): string | undefined {
  const prefer = req.headers['prefer'];
  if (!prefer) return undefined;
  for (const part of prefer.split(/[;,]/)) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (k === key && v) return v.replace(/^"|"$/g, '');
  }
  return undefined;
}

function historyOptions(req: FhirRequest) {
  const one = (k: string) => {
    const v = req.query[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const count = one('_count');
  if (count !== undefined && !/^\d+$/.test(count)) throw badRequest(`_count must be a whole number, got '${count}'`, '_count');
  return { count: count === undefined ? undefined : Number(count), since: one('_since'), cursor: one('_cursor') };
}

/** _format and _pretty shape the HTTP answer; they are not search criteria. */
function withoutControlParams(query: SearchQuery): SearchQuery {
  const { _format: _f, _pretty: _p, ...rest } = query;
  return rest;
}

export function parseQueryString(qs: string): SearchQuery {
  const result: SearchQuery = {};
  const params = new URLSearchParams(qs.startsWith('?') ? qs.slice(1) : qs.includes('?') ? qs.slice(qs.indexOf('?') + 1) : qs);
  for (const [k, v] of params) {
    const prev = result[k];
    result[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return result;
}

function mergeQuery(query: SearchQuery, body: unknown): SearchQuery {
  const merged: SearchQuery = { ...query };
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body as Record<string, string | string[]>)) {
      const prev = merged[k];
      const values = Array.isArray(v) ? v : [v];
      merged[k] = prev === undefined ? (values.length === 1 ? values[0] : values) : [...(Array.isArray(prev) ? prev : [prev]), ...values];
    }
  }
  return withoutControlParams(merged);
}
