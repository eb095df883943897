import { tooManyRequests } from '../fhir/outcomes.js';

export interface AttemptLimits {
  /** Requests per client per window, whatever their outcome. */
  maxRequests: number;
  /** Failed attempts (unknown code, wrong birth date) per client per window: guessing codes stops here. */
  maxFailures: number;
  windowMs: number;
}

export const DEFAULT_JOIN_LIMITS: AttemptLimits = { maxRequests: 60, maxFailures: 10, windowMs: 10 * 60_000 };

interface Window {
  start: number;
  requests: number;
  failures: number;
}

/**
 * Fixed-window counters per client key, in memory. Enough for one server; behind several servers each keeps
 * its own count, which still bounds guessing to a small multiple of the limit.
 */
export class AttemptLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limits: AttemptLimits = DEFAULT_JOIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a request; throws a 429 OperationOutcome when the client is over either limit. */
  check(key: string): void {
    const w = this.window(key);
    w.requests++;
    if (w.requests > this.limits.maxRequests || w.failures >= this.limits.maxFailures) {
      const retryAfter = Math.max(1, Math.ceil((w.start + this.limits.windowMs - this.now()) / 1000));
      throw tooManyRequests('Too many attempts; wait before trying again', retryAfter);
    }
  }

  fail(key: string): void {
    this.window(key).failures++;
  }

  private window(key: string): Window {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.limits.windowMs) {
      if (this.windows.size > 100_000) this.prune(now);
      w = { start: now, requests: 0, failures: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.limits.windowMs) this.windows.delete(k);
  }
}
