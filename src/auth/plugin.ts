import type { IncomingMessage, ServerResponse } from 'node:http';
import { AsyncResource } from 'node:async_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import helmet from 'helmet';
import rateLimit from '@fastify/rate-limit';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { AuditIndexing } from '../audit/audit-store.js';
import { AuditBatchWriter } from '../audit/batch-writer.js';
import { registerFhirAudit } from '../audit/http-audit.js';
import { attachScope, requestScope, type RequestScope } from '../audit/request-scope.js';
import { notFound, OperationOutcomeError, outcome } from '../fhir/outcomes.js';
import type { AccessPolicy } from '../fhir/rest/types.js';
import { extractIndexes } from '../fhir/search/index.js';
import type { FhirStore } from '../fhir/store.js';
import { AccessTokens } from './access-tokens.js';
import { confiningPatient, smartAccessPolicy } from './access-policy.js';
import { adminRoutes } from './routes/admin.js';
import { discoveryRoutes, smartSecurity } from './routes/discovery.js';
import { oauthRoutes } from './routes/oauth.js';
import { sessionRoutes } from './routes/session.js';
import { AuthService } from './service.js';
import { loadOrCreateSigningKey } from './signing-keys.js';

export interface AuthDeps {
  config: Config;
  db: Database;
  store: FhirStore;
  /** how AuditEvents are indexed for search; the search module's own indexing by default */
  auditIndexing?: AuditIndexing;
  auditFlushIntervalMs?: number;
}

/** Public meeting endpoints that a guest reaches by code or link: limited against guessing. */
const JOIN_ROUTE = /^\/api\/virtual-meetings\/(join|code)\//;
const ASYNC_RESOURCE = Symbol('requestAsyncResource');

/**
 * Authentication, authorization and audit for the whole server: security headers, CORS, rate limits, the
 * Bearer-token hook that sets request.principal (it never rejects; routes decide what they need), the sign-in,
 * OAuth, SMART discovery and admin endpoints, and the FHIR access audit. Returns how the FHIR routes learn the
 * caller's org and access policy.
 */
export async function registerAuth(app: FastifyInstance, deps: AuthDeps) {
  const { config, db } = deps;
  await registerHardening(app, config);

  const key = await loadOrCreateSigningKey(db);
  const tokens = new AccessTokens(key, { issuer: config.publicBaseUrl, audience: `${config.publicBaseUrl}/fhir` });
  const auth = new AuthService(config, db, deps.store, tokens);

  app.addHook('onRequest', (request, _reply, done) => {
    const scope: RequestScope = { address: request.ip, auditedWrites: 0 };
    attachScope(request, scope);
    requestScope.run(scope, () => {
      (request as unknown as Record<symbol, AsyncResource>)[ASYNC_RESOURCE] = new AsyncResource('telehealth-request');
      done();
    });
  });
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const bearer = header && /^Bearer\s+(\S+)$/i.exec(header);
    if (!bearer) return;
    const authenticated = await auth.authenticate(bearer[1]);
    if (!authenticated) return;
    request.principal = authenticated.principal;
    request.principalSession = authenticated.sessionId;
    const scope = requestScope.getStore();
    if (scope) scope.principal = authenticated.principal;
  });
  // The handler runs after the body is read, in the stream's async context; put it back into the request's.
  app.addHook('preValidation', (request, _reply, done) => {
    const resource = (request as unknown as Record<symbol, AsyncResource | undefined>)[ASYNC_RESOURCE];
    if (resource) resource.runInAsyncScope(done, request.raw);
    else done();
  });

  const limit = { max: config.auth.loginRateLimit, timeWindow: '1 minute' };
  sessionRoutes(app, auth, limit);
  oauthRoutes(app, auth, { max: config.auth.tokenRateLimit, timeWindow: '1 minute' });
  discoveryRoutes(app, auth);
  adminRoutes(app, auth);

  const writer = new AuditBatchWriter(db, deps.auditIndexing ?? { extractIndexes }, {
    flushIntervalMs: deps.auditFlushIntervalMs,
    onError: (err) => app.log.error({ err }, 'audit events could not be stored yet; will retry'),
  });
  registerFhirAudit(app, writer);

  const identify = async (request: FastifyRequest): Promise<{ orgId: string; access: AccessPolicy }> => {
    const principal = request.principal;
    if (!principal) {
      throw new OperationOutcomeError(401, outcome('error', 'login', 'A valid Bearer access token is required'), {
        'www-authenticate': request.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer',
      });
    }
    // Compartment searches (Patient/{id}/Observation) name their patient in the path: only the token's own.
    const patientId = confiningPatient(principal);
    if (patientId) {
      const m = /^\/fhir\/Patient\/([^/?]+)\/[A-Z]/.exec(request.url);
      if (m && decodeURIComponent(m[1]) !== patientId) throw notFound(`Patient/${m[1]} not found`);
    }
    return { orgId: principal.orgId, access: smartAccessPolicy(principal) };
  };

  return { identify, security: smartSecurity(auth), auditWriter: writer, tokens };
}

async function registerHardening(app: FastifyInstance, config: Config): Promise<void> {
  // The security headers are the same on every response: helmet computes them once here, and each response
  // gets the finished set (@fastify/helmet rebuilds the middleware, re-parsing the CSP directives, on every
  // request; even prebuilt, helmet's twelve middlewares each set their header through Node's validation).
  const securityHeaders = headersOf(helmet({
    // The web app is a Vite build served from this origin: its scripts and styles are files here. Mantine
    // sets inline style attributes, hence 'unsafe-inline' for styles only. Signaling uses WebSockets, video
    // plays from MediaStreams (blob:).
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        mediaSrc: ["'self'", 'blob:'],
        workerSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Video calls need the camera and microphone of this origin.
    crossOriginEmbedderPolicy: false,
  }));
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(securityHeaders);
    done();
  });
  // Without CORS_ORIGINS only the server's own origin is served, and no request needs CORS handling at all.
  if (config.auth.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.auth.corsOrigins,
      credentials: true,
      exposedHeaders: ['Location', 'ETag', 'Last-Modified', 'Content-Location'],
    });
  }
  if (!app.hasRequestDecorator('cookies')) await app.register(cookie);
  // Routes opt in through config.rateLimit; the public join endpoints are opted in here, whoever declares them.
  app.addHook('onRoute', (route) => {
    if (JOIN_ROUTE.test(route.url) && !route.config?.rateLimit) {
      route.config = { ...(route.config ?? {}), rateLimit: { max: 20, timeWindow: '1 minute' } } as typeof route.config;
    }
  });
  await app.register(rateLimit, { global: false });
}

/** The headers a helmet middleware sets, collected from one run against a response that only records them. */
function headersOf(middleware: ReturnType<typeof helmet>): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failure = err;
  });
  if (failure) throw failure;
  return headers;
}
