import { OperationOutcomeError, outcome, type IssueCode } from '../../fhir/outcomes.js';
import type { VideoProviderName } from './types.js';

/** Our own names for failures that have no vendor answer behind them. */
export type ProviderFailureCode = 'network' | 'timeout' | 'invalid-response' | 'invalid-request';

export interface ProviderErrorInit {
  provider: VideoProviderName;
  /** The vendor's HTTP status; absent when it never answered. */
  providerStatus?: number;
  /** The vendor's error code (100ms sends its HTTP status again) or one of ProviderFailureCode. */
  code: string | number;
  /** The vendor's message, verbatim. */
  message: string;
  details?: unknown;
  retryable: boolean;
}

/**
 * A video provider failed. It is an OperationOutcomeError so that, left uncaught, it still becomes a
 * meaningful answer: `status` is what the product answers (502, 504 on timeout, 400 when we refused to send a
 * request the vendor would reject), never the vendor's status — a vendor 401 means our credentials are wrong,
 * not the user's. The vendor's own status, code, message and details are kept for the workflow and the logs.
 */
export class ProviderError extends OperationOutcomeError {
  readonly provider: VideoProviderName;
  readonly providerStatus: number | undefined;
  readonly code: string | number;
  readonly details: unknown;
  /** Worth trying again later: 5xx, 429, network failure, timeout. */
  readonly retryable: boolean;

  constructor(init: ProviderErrorInit) {
    const [status, issueCode] = productStatus(init);
    const where = init.providerStatus !== undefined ? `HTTP ${init.providerStatus}` : String(init.code);
    super(status, outcome('error', issueCode, `Video provider ${init.provider} failed (${where}): ${init.message}`));
    this.name = 'ProviderError';
    this.message = init.message;
    this.provider = init.provider;
    this.providerStatus = init.providerStatus;
    this.code = init.code;
    this.details = init.details;
    this.retryable = init.retryable;
  }
}

function productStatus(init: ProviderErrorInit): [number, IssueCode] {
  if (init.code === 'timeout') return [504, 'timeout'];
  if (init.code === 'invalid-request') return [400, 'invalid'];
  return [502, init.retryable ? 'transient' : 'exception'];
}

/** Whether a vendor HTTP status is worth retrying. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * A webhook that could not be shown to come from the provider. 401 so the route answers the sender plainly;
 * its own class so the route can tell it from a bug.
 */
export class WebhookAuthenticationError extends OperationOutcomeError {
  constructor(
    readonly provider: VideoProviderName,
    diagnostics: string,
  ) {
    super(401, outcome('error', 'security', diagnostics));
    this.name = 'WebhookAuthenticationError';
  }
}
