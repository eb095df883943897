import type { z } from 'zod';
import { ProviderError, isRetryableStatus } from '../errors.js';
import { ManagementTokenSource, type HmsCredentials } from './tokens.js';
import { HMS_ROOM_NAME, hmsEndRoomSchema, hmsErrorSchema, hmsRoomSchema, type HmsRoom } from './schemas.js';

export const HMS_DEFAULT_BASE_URL = 'https://api.100ms.live/v2';

export interface HmsClientOptions {
  credentials: HmsCredentials;
  /** Without trailing slash, including the `/v2` version segment. */
  baseUrl: string;
  /** Per attempt, including reading the body. */
  timeoutMs: number;
  /** Further attempts after the first, for 5xx, 429, network failures and timeouts. */
  maxRetries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  managementTokenTtlSeconds: number;
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: ProviderError; retryAfterMs?: number };

/**
 * A deliberately small client for the part of the 100ms REST API the product uses. Every call is retried
 * only when 100ms says so (5xx, 429) or never answered; both calls are safe to repeat: creating a room by name
 * is an upsert and ending an ended room is a 404 that we read as "already ended".
 */
export class HmsClient {
  private readonly tokens: ManagementTokenSource;

  constructor(private readonly options: HmsClientOptions) {
    this.tokens = new ManagementTokenSource(options.credentials, {
      ttlSeconds: options.managementTokenTtlSeconds,
      refreshBeforeSeconds: Math.min(300, Math.floor(options.managementTokenTtlSeconds / 10)),
      now: options.now,
    });
  }

  /** `POST /v2/rooms`: creates the room, or updates and returns the one that already has this name. */
  async createRoom(body: { name: string; description?: string; template_id: string }): Promise<HmsRoom> {
    if (!HMS_ROOM_NAME.test(body.name)) {
      throw new ProviderError({
        provider: '100ms',
        code: 'invalid-request',
        message: `Room name "${body.name}" has characters 100ms does not accept (allowed: a-z A-Z 0-9 . - : _)`,
        retryable: false,
      });
    }
    return this.request('POST', '/rooms', body, hmsRoomSchema);
  }

  /**
   * `POST /v2/active-rooms/{room_id}/end-room`. 100ms answers 404 when the room has no live session, which
   * for us means someone already ended it (or nobody ever joined).
   */
  async endActiveRoom(roomId: string, body: { reason: string; lock: boolean }): Promise<{ alreadyEnded: boolean }> {
    try {
      await this.request('POST', `/active-rooms/${encodeURIComponent(roomId)}/end-room`, body, hmsEndRoomSchema);
      return { alreadyEnded: false };
    } catch (err) {
      if (err instanceof ProviderError && err.providerStatus === 404) return { alreadyEnded: true };
      throw err;
    }
  }

  private async request<S extends z.ZodType>(method: 'GET' | 'POST', path: string, body: unknown, schema: S): Promise<z.infer<S>> {
    let retries = 0;
    let tokenRefreshed = false;
    for (;;) {
      const result = await this.attempt(method, path, body, schema);
      if (result.ok) return result.value;
      const { error } = result;
      // A cached token 100ms no longer accepts (rotated secret, clock skew): mint a new one, once.
      if (error.providerStatus === 401 && !tokenRefreshed) {
        tokenRefreshed = true;
        this.tokens.invalidate();
        continue;
      }
      if (!error.retryable || retries >= this.options.maxRetries) throw error;
      await this.options.sleep(this.backoff(retries, result.retryAfterMs));
      retries += 1;
    }
  }

  private async attempt<S extends z.ZodType>(method: string, path: string, body: unknown, schema: S): Promise<Attempt<z.infer<S>>> {
    const token = await this.tokens.get();
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await this.options.fetch(`${this.options.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          'Content-Type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      const timedOut = e?.name === 'TimeoutError' || e?.name === 'AbortError';
      return {
        ok: false,
        error: new ProviderError({
          provider: '100ms',
          code: timedOut ? 'timeout' : 'network',
          message: timedOut
            ? `No answer from 100ms within ${this.options.timeoutMs} ms (${method} ${path})`
            : `Could not reach 100ms (${method} ${path}): ${e?.cause?.code ?? e?.cause?.message ?? e?.message ?? 'network error'}`,
          retryable: true,
        }),
      };
    }

    const json = parseJson(text);
    if (status < 200 || status >= 300) {
      const parsed = hmsErrorSchema.safeParse(json);
      const vendor = parsed.success ? parsed.data : {};
      return {
        ok: false,
        retryAfterMs: parseRetryAfter(retryAfter),
        error: new ProviderError({
          provider: '100ms',
          providerStatus: status,
          code: vendor.code ?? status,
          message: vendor.message ?? (text.trim().slice(0, 500) || `HTTP ${status}`),
          details: vendor.details,
          retryable: isRetryableStatus(status),
        }),
      };
    }

    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      return {
        ok: false,
        error: new ProviderError({
          provider: '100ms',
          providerStatus: status,
          code: 'invalid-response',
          message: `Unexpected answer from 100ms to ${method} ${path}`,
          details: parsed.error.issues,
          retryable: false,
        }),
      };
    }
    return { ok: true, value: parsed.data };
  }

  /** Exponential with jitter, bounded; a Retry-After from 100ms is honoured up to the same bound. */
  private backoff(retry: number, retryAfterMs: number | undefined): number {
    const { retryBaseDelayMs, retryMaxDelayMs } = this.options;
    const exp = Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** retry);
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.min(retryMaxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
