import type { FastifyInstance, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { OperationOutcomeError } from '../fhir/outcomes.js';
import { requirePrincipal, requireUserRole } from '../http/principal.js';
import { parseVideoIntegrationInput } from './integrations.js';
import { operationOutcome, routeSchemas as s, videoIntegration } from './http-schemas.js';
import type { MeetingsModule } from './module.js';
import type { JoinInput, ListQuery } from './service.js';

export interface MeetingRoutesOptions {
  meetings: MeetingsModule;
  version: string;
  now?: () => Date;
}

/**
 * The meetings HTTP API: translate requests into service calls and answers back, nothing more. The org
 * always comes from the caller's token. Its OpenAPI description is served at /api/docs.
 */
export async function meetingRoutes(app: FastifyInstance, opts: MeetingRoutesOptions): Promise<void> {
  const { service, webhooks, providers, joinLimiter } = opts.meetings;
  const now = opts.now ?? (() => new Date());

  // Registered inside this plugin, the OpenAPI document describes these routes and not the FHIR API
  // (which has its own CapabilityStatement).
  await app.register(swagger, {
    openapi: {
      info: { title: 'Telehealth virtual meetings API', version: opts.version },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  app.addSchema(operationOutcome);
  app.addSchema(videoIntegration);

  const base = '/api/virtual-meetings';

  app.post(`${base}/appointment/:appointmentId`, { schema: s.createForAppointment }, async (request, reply) => {
    const actor = requireUserRole(request, 'practitioner', 'admin');
    const { appointmentId } = request.params as { appointmentId: string };
    const { meeting, created } = await service.createMeetingForAppointment(actor, appointmentId);
    return reply.status(created ? 201 : 200).send(meeting);
  });

  app.post(`${base}/instant`, { schema: s.createInstant }, async (request, reply) => {
    const actor = requireUserRole(request, 'practitioner');
    const body = (request.body ?? {}) as { patientId?: string; displayName?: string };
    return reply.status(201).send(await service.createInstantMeeting(actor, body));
  });

  app.get(base, { schema: s.list }, async (request) => {
    const actor = requirePrincipal(request);
    return service.listMeetings(actor, request.query as ListQuery);
  });

  app.get(`${base}/:meetingId`, { schema: s.get }, async (request) => {
    return service.getMeeting(requirePrincipal(request), (request.params as { meetingId: string }).meetingId);
  });

  app.get(`${base}/:meetingId/events`, { schema: s.events }, async (request) => {
    const actor = requireUserRole(request, 'practitioner', 'admin');
    return { events: await service.listEvents(actor, (request.params as { meetingId: string }).meetingId) };
  });

  app.get(`${base}/:meetingId/participants`, { schema: s.participants }, async (request) => {
    const actor = requireUserRole(request, 'practitioner', 'admin');
    return { participants: await service.listParticipants(actor, (request.params as { meetingId: string }).meetingId) };
  });

  // Public: a code is the only key. Failed lookups count against the client so codes cannot be enumerated.
  app.get(`${base}/code/:code`, { schema: s.byCode }, async (request) => {
    const key = clientKey(request);
    joinLimiter.check(key);
    return countFailures(key, () => service.publicViewByCode((request.params as { code: string }).code));
  });

  app.post(`${base}/join/:code`, { schema: s.join }, async (request) => {
    const key = clientKey(request);
    joinLimiter.check(key);
    const { code } = request.params as { code: string };
    return countFailures(key, () => service.joinByCode(code, (request.body ?? {}) as JoinInput, request.principal));
  });

  // The participant id is an unguessable id handed only to the person who joined; it authorizes these two.
  app.post(`${base}/:meetingId/token`, { schema: s.token }, async (request) => {
    const { meetingId } = request.params as { meetingId: string };
    return service.issueToken(meetingId, (request.body as { participantId: string }).participantId);
  });

  app.post(`${base}/:meetingId/leave`, { schema: s.leave }, async (request) => {
    const { meetingId } = request.params as { meetingId: string };
    return service.leave(meetingId, (request.body as { participantId: string }).participantId);
  });

  app.post(`${base}/:meetingId/end`, { schema: s.end }, async (request) => {
    const actor = requirePrincipal(request);
    return service.endMeeting(actor, (request.params as { meetingId: string }).meetingId);
  });

  app.post(`${base}/:meetingId/cancel`, { schema: s.cancel }, async (request) => {
    const actor = requirePrincipal(request);
    return service.cancelMeeting(actor, (request.params as { meetingId: string }).meetingId);
  });

  app.post(`${base}/:meetingId/link-shared`, { schema: s.linkShared }, async (request) => {
    const actor = requirePrincipal(request);
    const body = (request.body ?? {}) as { channel?: string };
    return { events: await service.recordLinkShared(actor, (request.params as { meetingId: string }).meetingId, body.channel ?? 'link') };
  });

  app.get('/api/integrations/video', { schema: s.getIntegration }, async (request) => {
    const actor = requireUserRole(request, 'admin');
    return providers.view(actor.orgId);
  });

  app.put('/api/integrations/video', { schema: s.putIntegration }, async (request) => {
    const actor = requireUserRole(request, 'admin');
    return providers.save(actor.orgId, parseVideoIntegrationInput(request.body), actor.subject, now());
  });

  await app.register(async (hooks) => {
    // Signatures are computed over the exact bytes sent, so this route takes the body unparsed.
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    hooks.post('/api/webhooks/100ms', { schema: s.webhook }, async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      return webhooks.handle('100ms', { headers: request.headers, rawBody });
    });
  });

  async function countFailures<T>(key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof OperationOutcomeError && [403, 404, 410].includes(err.status)) joinLimiter.fail(key);
      throw err;
    }
  }
}

function clientKey(request: FastifyRequest): string {
  return request.ip;
}
