import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, outcome } from '../../fhir/outcomes.js';
import type { FhirRepository, RepositoryContext } from '../../fhir/repository/repository.js';
import { routeFhirRequest, type RouterOptions } from '../../fhir/rest/router.js';
import type { AccessPolicy, FhirContext, FhirRequest, FhirResponse } from '../../fhir/rest/types.js';

export interface FhirRouteDeps {
  baseUrl: string;
  repository(ctx: RepositoryContext): FhirRepository;
  router: RouterOptions;
  /** Who is calling: their org and what they may do. Throws a 401 OperationOutcomeError when unknown. */
  identify(request: FastifyRequest): Promise<{ orgId: string; access: AccessPolicy }>;
  /** Public FHIR paths that need no caller (metadata, SMART configuration). */
  isPublicPath?(path: string): boolean;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** The FHIR REST API at /fhir: translate HTTP to a FhirRequest, route it, translate the FhirResponse back. */
export async function fhirRoutes(app: FastifyInstance, deps: FhirRouteDeps): Promise<void> {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const fhirPath = (request.params as { '*'?: string })['*'] ?? '';
    checkFormat(request);
    const query = { ...((request.query as Record<string, string | string[]> | undefined) ?? {}) };
    const req: FhirRequest = {
      method: request.method as FhirRequest['method'],
      path: fhirPath,
      query,
      body: request.body,
      headers: request.headers as Record<string, string | undefined>,
      acceptsJsonText: true,
    };
    const isPublic = fhirPath === 'metadata' || deps.isPublicPath?.(fhirPath);
    const caller = isPublic ? { orgId: '', access: undefined } : await deps.identify(request);
    const ctx: FhirContext = {
      repo: deps.repository({ orgId: caller.orgId, baseUrl: deps.baseUrl, principal: request.principal }),
      access: caller.access ?? denyAll,
    };
    const response = await routeFhirRequest(req, ctx, deps.router);
    return sendFhirResponse(request, reply, response, deps.baseUrl);
  };
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/fhir', handler, exposeHeadRoute: false });
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/fhir/*', handler, exposeHeadRoute: false });
}

const denyAll: AccessPolicy = {
  assertInteraction: () => {
    throw new OperationOutcomeError(401, outcome('error', 'login', 'Authentication required'));
  },
  assertResource: () => undefined,
  searchCriteria: () => undefined,
};

export function sendFhirResponse(request: FastifyRequest, reply: FastifyReply, response: FhirResponse, baseUrl: string) {
  const headers = { ...(response.headers ?? {}) };
  if (headers.location && !/^https?:/.test(headers.location)) headers.location = `${baseUrl}/${headers.location}`;
  reply.status(response.status).headers(headers);
  if (response.json !== undefined) {
    // Sent as stored, unless it is to be pretty-printed.
    const pretty = isPretty(request);
    return reply.type(contentType(request)).send(pretty ? serialize(request, JSON.parse(response.json) as Resource) : response.json);
  }
  if (response.body === undefined) return reply.send();
  return reply.type(contentType(request)).send(serialize(request, response.body));
}

export function serialize(request: FastifyRequest, body: Resource | object): string {
  return isPretty(request) ? JSON.stringify(body, null, 2) : JSON.stringify(body);
}

function isPretty(request: FastifyRequest): boolean {
  return (request.query as Record<string, string>)?._pretty === 'true';
}

/** Answer in the JSON flavour the client asked for; FHIR JSON unless it asked for plain JSON only. */
function contentType(request: FastifyRequest): string {
  const format = (request.query as Record<string, string>)?._format;
  if (format === 'json' || format === 'application/json') return 'application/json; charset=utf-8';
  const accept = request.headers.accept ?? '';
  if (accept.includes('application/json') && !accept.includes('fhir+json')) return 'application/json; charset=utf-8';
  return FHIR_JSON;
}

function checkFormat(request: FastifyRequest): void {
  const format = (request.query as Record<string, string>)?._format;
  if (format !== undefined && !JSON_FORMATS.has(format.split(';')[0].trim())) {
    throw new OperationOutcomeError(406, outcome('error', 'not-supported', `_format '${format}' is not supported; this server speaks FHIR JSON`));
  }
  const accept = request.headers.accept;
  if (accept && !/json|\*\/\*|application\/\*/.test(accept)) {
    throw new OperationOutcomeError(406, outcome('error', 'not-supported', `Accept '${accept}' is not supported; this server speaks FHIR JSON`));
  }
}


