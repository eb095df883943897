import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeError, type OperationOutcomeError } from '../fhir/outcomes.js';

/**
 * One error handler for the whole server: every failure is answered with an OperationOutcome. The text of
 * 5xx errors is logged, never shown.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = normalizeError(err);
    if (e.status >= 500) request.log.error({ err }, 'request failed');
    return sendOutcomeError(request, reply, e);
  });
  app.setNotFoundHandler((request, reply) => {
    return sendOutcomeError(request, reply, normalizeError({ statusCode: 404, message: `No route for ${request.method} ${request.url.split('?')[0]}` }));
  });
}

export function sendOutcomeError(_request: FastifyRequest, reply: FastifyReply, e: OperationOutcomeError) {
  return reply
    .status(e.status)
    .headers(e.headers)
    .type('application/fhir+json; charset=utf-8')
    .send(JSON.stringify(e.outcome));
}
