import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { FhirStore } from '../fhir/store.js';
import { sessions } from './accounts.js';
import type { AccessTokens } from './access-tokens.js';
import type { Principal } from './principal.js';

/** A revoked session's tokens are refused within this long on other servers (immediately on this one). */
const SESSION_CHECK_TTL_MS = 10_000;

/** What the authentication routes and hooks share. */
export class AuthService {
  private readonly sessionChecks = new Map<string, { active: boolean; at: number }>();

  constructor(
    readonly config: Config,
    readonly db: Database,
    readonly store: FhirStore,
    readonly tokens: AccessTokens,
  ) {}

  get issuer(): string {
    return this.config.publicBaseUrl;
  }

  /** The zone of organizations created without one (and of the demo clinic). */
  get defaultTimeZone(): string {
    return this.config.defaultTimeZone;
  }

  get fhirBaseUrl(): string {
    return `${this.config.publicBaseUrl}/fhir`;
  }

  get tokenUrl(): string {
    return `${this.config.publicBaseUrl}/oauth2/token`;
  }

  /** The principal of a Bearer token, if it is valid and its sign-in session (for users) is not revoked. */
  async authenticate(token: string): Promise<{ principal: Principal; sessionId?: string } | undefined> {
    const verified = await this.tokens.verify(token);
    if (!verified) return undefined;
    const { sessionId, ...principal } = verified;
    if (sessionId && !(await this.isSessionActive(sessionId))) return undefined;
    return { principal, sessionId };
  }

  private async isSessionActive(sessionId: string): Promise<boolean> {
    const cached = this.sessionChecks.get(sessionId);
    if (cached && Date.now() - cached.at < SESSION_CHECK_TTL_MS) return cached.active;
    const active = await sessions.isActive(this.db, sessionId);
    if (this.sessionChecks.size > 10_000) this.sessionChecks.clear();
    this.sessionChecks.set(sessionId, { active, at: Date.now() });
    return active;
  }

  async revokeSession(sessionId: string): Promise<void> {
    await sessions.revoke(this.db, sessionId);
    this.sessionChecks.set(sessionId, { active: false, at: Date.now() });
  }
}
