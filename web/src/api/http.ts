/**
 * The one place the app talks HTTP. The access token lives only in this closure (never in storage); when it
 * expires the httpOnly refresh cookie buys a new one, once, shared by every request that was waiting.
 */

export interface ProblemDetails {
  status: number;
  /** OperationOutcome issue.code when the server sent one (`not-found`, `conflict`, `invalid`, …). */
  code?: string;
  /** FHIRPath of the offending element, when the server named one. */
  expression?: string;
}

export class ApiError extends Error implements ProblemDetails {
  readonly status: number;
  readonly code?: string;
  readonly expression?: string;

  constructor(message: string, details: ProblemDetails) {
    super(message);
    this.name = 'ApiError';
    this.status = details.status;
    this.code = details.code;
    this.expression = details.expression;
  }
}

export interface RequestOptions {
  body?: unknown;
  /** Content type of the body; JSON unless stated. */
  contentType?: string;
  /**
   * Send the access token (default true, refreshing it when needed). `optional`: send it only when one is
   * already in memory — public join pages must not ask for a refresh, a guest has no session.
   */
  auth?: boolean | 'optional';
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface HttpClient {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  setAccessToken(token: string | undefined): void;
  hasAccessToken(): boolean;
  /** Called when a refresh fails: the session is over and the UI should show the sign-in page. */
  onSessionLost(listener: () => void): () => void;
}

export interface HttpClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Gets a fresh access token from the refresh cookie; undefined when there is no session. */
  refresh?: (http: HttpClient) => Promise<string | undefined>;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const baseUrl = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
  let accessToken: string | undefined;
  let refreshing: Promise<string | undefined> | undefined;
  const lostListeners = new Set<() => void>();

  async function send(method: string, path: string, opts: RequestOptions, token: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json, application/fhir+json', ...opts.headers };
    let body: BodyInit | undefined;
    if (opts.body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await doFetch(baseUrl + path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError('The server could not be reached. Check your connection and try again.', { status: 0 });
    }
  }

  async function refreshOnce(): Promise<string | undefined> {
    if (!options.refresh) return undefined;
    refreshing ??= options.refresh(client).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  const client: HttpClient = {
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const auth = opts.auth ?? true;
      let token = auth ? accessToken : undefined;
      if (auth === true && !token) {
        token = accessToken = await refreshOnce();
        if (!token) {
          for (const listener of lostListeners) listener();
          throw new ApiError('Please sign in.', { status: 401, code: 'login' });
        }
      }
      let response = await send(method, path, opts, token);
      if (response.status === 401 && auth === true) {
        const fresh = await refreshOnce().catch(() => undefined);
        accessToken = fresh;
        if (!fresh) {
          for (const listener of lostListeners) listener();
        } else {
          response = await send(method, path, opts, fresh);
        }
      }
      return parseResponse<T>(response);
    },
    setAccessToken(token) {
      accessToken = token;
    },
    hasAccessToken: () => accessToken !== undefined,
    onSessionLost(listener) {
      lostListeners.add(listener);
      return () => lostListeners.delete(listener);
    },
  };
  return client;
}

async function parseResponse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let data: unknown;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw errorFromBody(response.status, data);
  return data as T;
}

/** OperationOutcome, `{message}` / `{error}` bodies, or a bare status: always a sentence a person can act on. */
export function errorFromBody(status: number, data: unknown): ApiError {
  const body = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (body.resourceType === 'OperationOutcome' && Array.isArray(body.issue) && body.issue.length > 0) {
    const issue = body.issue[0] as { code?: string; diagnostics?: string; details?: { text?: string }; expression?: string[] };
    const message = issue.diagnostics ?? issue.details?.text ?? defaultMessage(status);
    return new ApiError(message, { status, code: issue.code, expression: issue.expression?.[0] });
  }
  const message =
    (typeof body.message === 'string' && body.message) ||
    (typeof body.error_description === 'string' && body.error_description) ||
    (typeof body.error === 'string' && body.error) ||
    defaultMessage(status);
  return new ApiError(message, { status });
}

function defaultMessage(status: number): string {
  if (status === 401) return 'Please sign in again.';
  if (status === 403) return 'You do not have access to this.';
  if (status === 404) return 'Not found.';
  if (status === 409) return 'This was changed by someone else. Reload and try again.';
  if (status === 410) return 'This is no longer available.';
  if (status === 429) return 'Too many attempts. Wait a minute and try again.';
  if (status >= 500) return 'The server had a problem. Try again in a moment.';
  return `The request failed (${status}).`;
}
