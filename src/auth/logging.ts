import type { FastifyServerOptions } from 'fastify';

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
  id?: string;
}

/**
 * Logger settings that keep health data and secrets out of the logs: requests are logged by method and path
 * only (query strings carry search values such as names and birth dates), never with headers (tokens,
 * cookies) or bodies, and errors by type, code and stack frames without their message (database errors quote
 * the values they choked on).
 */
export function safeLoggerOptions(level: string, stream?: { write(line: string): void }): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    ...(stream ? { stream } : {}),
    serializers: {
      req: (req: LoggedRequest) => ({ method: req.method, path: req.url.split('?')[0], id: req.id, remoteAddress: req.ip }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: (err: Error & { code?: string; statusCode?: number }) =>
        ({
          type: err.name,
          message: '',
          code: err.code,
          statusCode: err.statusCode,
          stack: err.stack?.split('\n').slice(1).join('\n') ?? '',
        }) as { type: string; message: string; stack: string },
    },
    redact: {
      paths: ['req.headers', 'headers', 'authorization', 'password', 'token', 'access_token', 'refresh_token', 'body', 'cookie'],
      censor: '[redacted]',
    },
  };
}
