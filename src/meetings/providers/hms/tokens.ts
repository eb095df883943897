import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * 100ms authenticates with HS256 JWTs signed with the workspace's app secret: a management token for its
 * REST API and an app (auth) token per peer for its client SDKs. Claims follow 100ms's "Authentication and
 * tokens" guide: access_key, type, version 2, iat, nbf, exp, jti.
 */

export interface HmsCredentials {
  accessKey: string;
  appSecret: string;
}

export interface AppTokenClaims {
  roomId: string;
  userId: string;
  /** The 100ms template role name. */
  role: string;
}

function secretKey(appSecret: string): Uint8Array {
  return new TextEncoder().encode(appSecret);
}

export async function signAppToken(
  credentials: HmsCredentials,
  claims: AppTokenClaims,
  issuedAt: Date,
  expiresAt: Date,
): Promise<string> {
  const iat = Math.floor(issuedAt.getTime() / 1000);
  return new SignJWT({
    access_key: credentials.accessKey,
    room_id: claims.roomId,
    user_id: claims.userId,
    role: claims.role,
    type: 'app',
    version: 2,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .setJti(randomUUID())
    .sign(secretKey(credentials.appSecret));
}

export interface ManagementTokenOptions {
  /** How long each management token lives. 100ms's sample uses 24 h; shorter limits what a leak exposes. */
  ttlSeconds: number;
  /** Mint a new token this long before the old one expires, so no request carries a token about to lapse. */
  refreshBeforeSeconds: number;
  now: () => number;
}

/**
 * Mints management tokens and keeps the current one until shortly before it expires. One per client
 * instance, so each organisation's credentials stay with its own provider object.
 */
export class ManagementTokenSource {
  private current: { token: string; expiresAtMs: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly credentials: HmsCredentials,
    private readonly options: ManagementTokenOptions,
  ) {}

  async get(): Promise<string> {
    const now = this.options.now();
    if (this.current && this.current.expiresAtMs - this.options.refreshBeforeSeconds * 1000 > now) {
      return this.current.token;
    }
    // Concurrent callers share one signing instead of each minting their own.
    this.pending ??= this.mint().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forget the cached token, e.g. after 100ms refused it. */
  invalidate(): void {
    this.current = undefined;
  }

  private async mint(): Promise<string> {
    const nowMs = this.options.now();
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + this.options.ttlSeconds;
    const token = await new SignJWT({ access_key: this.credentials.accessKey, type: 'management', version: 2 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(secretKey(this.credentials.appSecret));
    this.current = { token, expiresAtMs: exp * 1000 };
    return token;
  }
}
