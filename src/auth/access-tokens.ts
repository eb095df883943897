import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Principal } from './principal.js';
import type { SigningKey } from './signing-keys.js';

export const ACCESS_TOKEN_SECONDS = 3600;

/** What an access token says beyond the registered JWT claims. */
interface AccessClaims extends JWTPayload {
  org: string;
  kind: Principal['kind'];
  scope: string;
  role?: Principal['role'];
  fhirUser?: string;
  /** SMART launch context: the patient a patient/ scope is about */
  patient?: string;
  name?: string;
  /** sign-in session, so logout can revoke its access tokens */
  sid?: string;
}

export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
  jti: string;
}

export interface TokenAudience {
  /** who issues: this server's public base URL */
  issuer: string;
  /** who accepts: the FHIR base URL (SMART's `aud`) */
  audience: string;
}

/**
 * Access tokens are ES256 JWTs: any server of the installation, and any resource server that reads
 * /.well-known/jwks.json, can check them without a database round trip.
 */
/** Verified tokens remembered at most; the cache starts over when full. */
const VERIFIED_CACHE_SIZE = 10_000;

export class AccessTokens {
  private readonly keySet: ReturnType<typeof createLocalJWKSet>;

  constructor(
    private readonly key: SigningKey,
    private readonly audience: TokenAudience,
  ) {
    this.keySet = createLocalJWKSet({ keys: [key.publicJwk] });
  }

  get jwks(): { keys: JWK[] } {
    return { keys: [this.key.publicJwk] };
  }

  async issue(principal: Omit<Principal, 'tokenId'>, opts: { sessionId?: string; expiresIn?: number } = {}): Promise<IssuedAccessToken> {
    const jti = randomUUID();
    const expiresIn = opts.expiresIn ?? ACCESS_TOKEN_SECONDS;
    const claims: AccessClaims = {
      org: principal.orgId,
      kind: principal.kind,
      scope: principal.scopes.join(' '),
      ...(principal.role ? { role: principal.role } : {}),
      ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}),
      ...(principal.fhirUser?.startsWith('Patient/') ? { patient: principal.fhirUser.slice('Patient/'.length) } : {}),
      ...(principal.displayName ? { name: principal.displayName } : {}),
      ...(opts.sessionId ? { sid: opts.sessionId } : {}),
    };
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: this.key.alg, kid: this.key.kid, typ: 'at+jwt' })
      .setIssuer(this.audience.issuer)
      .setAudience(this.audience.audience)
      .setSubject(principal.subject)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
      .sign(this.key.privateKey);
    return { accessToken, expiresIn, jti };
  }

  /** The principal of a valid token, or undefined (bad signature, expired, other issuer or audience, malformed). */
  async verify(token: string): Promise<(Principal & { sessionId?: string }) | undefined> {
    // A token is immutable and signed: once verified it stays valid until it expires. Checking the ECDSA
    // signature again on every request of a busy client costs more than the rest of a FHIR read.
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt > Date.now()) return cached.principal;
      this.verified.delete(token);
    }
    const principal = await this.verifySignature(token);
    if (principal && principal.expiresAt) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
      this.verified.set(token, { principal: principal.value, expiresAt: principal.expiresAt });
    }
    return principal?.value;
  }

  private readonly verified = new Map<string, { principal: Principal & { sessionId?: string }; expiresAt: number }>();

  private async verifySignature(token: string): Promise<{ value: Principal & { sessionId?: string }; expiresAt: number } | undefined> {
    try {
      const { payload } = await jwtVerify<AccessClaims>(token, this.keySet, {
        issuer: this.audience.issuer,
        audience: this.audience.audience,
        algorithms: [this.key.alg],
        typ: 'at+jwt',
        clockTolerance: 5,
        requiredClaims: ['exp', 'sub', 'jti'],
      });
      if (typeof payload.org !== 'string' || (payload.kind !== 'user' && payload.kind !== 'client') || typeof payload.scope !== 'string') {
        return undefined;
      }
      return {
        value: {
          orgId: payload.org,
          kind: payload.kind,
          subject: payload.sub as string,
          role: payload.role,
          fhirUser: payload.fhirUser,
          displayName: payload.name,
          scopes: payload.scope.split(' ').filter(Boolean),
          tokenId: payload.jti,
          sessionId: payload.sid,
        },
        // Five seconds of the clock tolerance are not granted from the cache.
        expiresAt: (payload.exp as number) * 1000,
      };
    } catch {
      return undefined;
    }
  }
}
