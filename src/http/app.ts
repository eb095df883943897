import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import { registerAuth } from '../auth/plugin.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { buildCapabilityStatement } from '../fhir/rest/capability.js';
import { processBundle } from '../fhir/rest/bundle.js';
import { routeFhirRequest, type FhirOperation, type OperationHandler, type RouterOptions } from '../fhir/rest/router.js';
import type { AccessPolicy } from '../fhir/rest/types.js';
import type { FhirStore } from '../fhir/store.js';
import { createBulkExport } from '../export/module.js';
import { createMeetingsModule, type MeetingsModule } from '../meetings/module.js';
import { meetingRoutes } from '../meetings/routes.js';
import { signalingRoutes } from '../meetings/p2p/plugin.js';
import { schedulingOperations } from '../scheduling/operations.js';
import type { SignalingServer } from '../meetings/p2p/signaling-server.js';
import { registerErrorHandling } from './errors.js';
import { registerFhirContentTypes } from './fhir-content.js';
import { fhirRoutes } from './routes/fhir.js';
import { defaultWebRoot, webApp, webAppBuilt } from './static.js';

export interface AppDeps {
  config: Config;
  db: Database;
  store: FhirStore;
  logger?: FastifyServerOptions['logger'];
  /** Identifies the caller of an API request; until authentication is configured, everyone is the default org. */
  identify?(request: FastifyRequest): Promise<{ orgId: string; access: AccessPolicy }>;
  /** The virtual meetings feature; built with defaults (p2p, no scheduler) when not given. */
  meetings?: MeetingsModule;
  /** The built-in video provider's signaling server; its socket is served when given. */
  signaling?: SignalingServer;
}

const VERSION = '0.1.0';

/** Builds the HTTP server. Nothing here knows SQL or FHIR semantics: it wires modules to routes. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, store } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: config.maxBodyBytes,
    // Clinics run behind TLS terminators; the client address matters for rate limits.
    trustProxy: true,
    routerOptions: { maxParamLength: 500 },
  });
  registerErrorHandling(app);
  registerFhirContentTypes(app);
  await app.register(formbody);
  const auth = await registerAuth(app, { config, db, store });

  app.get('/healthz', async (_req, reply) => {
    await db.query('SELECT 1');
    return reply.send({ status: 'ok' });
  });

  const baseUrl = `${config.publicBaseUrl}/fhir`;
  // Operations offered by the feature modules (scheduling, bulk export, …): added to this list.
  const bulkExport = createBulkExport({ config, db, auditWriter: auth.auditWriter });
  const meetings = deps.meetings ?? createMeetingsModule({ config, db, store });
  const fhirOperations: FhirOperation[] = [...bulkExport.operations, ...schedulingOperations({ db, meetings: meetings.service, log: app.log })];
  const operations = new Map<string, OperationHandler>(fhirOperations.map((o) => [o.key, o.handler]));
  const operationDefinitions = fhirOperations.map(({ key, definition }) => ({ key, definition }));
  let capability: ReturnType<typeof buildCapabilityStatement> | undefined;
  const router: RouterOptions = {
    operations,
    capabilityStatement: () =>
      (capability ??= buildCapabilityStatement({
        baseUrl,
        softwareVersion: VERSION,
        searchParams: (type) => store.searchParams(type),
        operations: operationDefinitions,
        batch: router.processBundle !== undefined,
        security: auth.security,
      })),
    processBundle: (req, ctx) => processBundle(req, ctx, (entryReq, entryCtx) => routeFhirRequest(entryReq, entryCtx, router)),
  };

  await app.register(fhirRoutes, {
    baseUrl,
    repository: (ctx) => store.repository(ctx),
    router,
    identify: deps.identify ?? auth.identify,
  });
  await bulkExport.register(app);
  if (deps.signaling) await app.register(signalingRoutes, { signaling: deps.signaling });
  await app.register(meetingRoutes, { meetings, version: VERSION });
  // The web app, when it has been built (npm run build:web); API-only test servers run without it.
  const webRoot = defaultWebRoot();
  if (webAppBuilt(webRoot)) await app.register(webApp, { root: webRoot });
  return app;
}
