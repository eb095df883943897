import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

/**
 * The one error type of the FHIR layer. Anything thrown below the HTTP layer either is one of these or is
 * turned into a 500 by normalizeError, so every answer is an OperationOutcome.
 */
export class OperationOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
    readonly headers: Record<string, string> = {},
  ) {
    super(outcome.issue?.[0]?.diagnostics ?? `HTTP ${status}`);
    this.name = 'OperationOutcomeError';
  }
}

export function outcome(
  severity: OperationOutcomeIssue['severity'],
  code: IssueCode,
  diagnostics: string,
  expression?: string | string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression !== undefined) issue.expression = Array.isArray(expression) ? expression : [expression];
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

function fail(status: number, code: IssueCode, diagnostics: string, expression?: string | string[]): OperationOutcomeError {
  return new OperationOutcomeError(status, outcome('error', code, diagnostics, expression));
}

export const badRequest = (diagnostics: string, expression?: string | string[]) =>
  fail(400, 'invalid', diagnostics, expression);
export const notFound = (diagnostics = 'Not found') => fail(404, 'not-found', diagnostics);
export const gone = (diagnostics = 'Deleted') => fail(410, 'deleted', diagnostics);
export const conflict = (diagnostics: string) => fail(409, 'conflict', diagnostics);
export const preconditionFailed = (diagnostics: string) => fail(412, 'conflict', diagnostics);
export const unprocessable = (diagnostics: string, expression?: string | string[]) =>
  fail(422, 'business-rule', diagnostics, expression);
export const notSupported = (diagnostics: string) => fail(400, 'not-supported', diagnostics);
export const unauthorized = (diagnostics = 'Authentication required') => fail(401, 'login', diagnostics);
export const forbidden = (diagnostics = 'Forbidden') => fail(403, 'forbidden', diagnostics);
export const tooManyRequests = (diagnostics = 'Too many requests', retryAfterSeconds = 60) =>
  new OperationOutcomeError(429, outcome('error', 'throttled', diagnostics), { 'retry-after': String(retryAfterSeconds) });
export const badGateway = (diagnostics: string) => fail(502, 'transient', diagnostics);

export function allOk(diagnostics = 'All OK'): OperationOutcome {
  return outcome('information', 'informational', diagnostics);
}

/** Turns anything thrown into a status and an OperationOutcome. 5xx texts are not shown to the caller. */
export function normalizeError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  // Errors raised by Fastify itself (bad JSON, body too large, unsupported media type).
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: IssueCode =
      e.statusCode === 413 ? 'too-long' : e.statusCode === 415 ? 'not-supported' : e.statusCode === 404 ? 'not-found' : 'invalid';
    return fail(e.statusCode, code, e.message ?? 'Bad request');
  }
  return fail(500, 'exception', 'Internal server error');
}
