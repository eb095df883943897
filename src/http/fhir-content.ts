import type { FastifyInstance } from 'fastify';
import { badRequest } from '../fhir/outcomes.js';

/**
 * FHIR clients send application/fhir+json, plain application/json (fhirclient, fhir-kit-client) and JSON Patch,
 * with or without a charset. All are parsed as JSON; malformed JSON becomes a 400 OperationOutcome.
 */
export function registerFhirContentTypes(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json']);
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(badRequest(`The body is not valid JSON: ${(err as Error).message}`));
    }
  };
  app.addContentTypeParser(
    /^application\/(json|fhir\+json|json-patch\+json)(\s*;.*)?$/,
    { parseAs: 'string' },
    parseJson,
  );
}
