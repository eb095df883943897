import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import type { Queryable } from '../db/database.js';
import { conflict } from '../fhir/outcomes.js';
import { hashSecret } from './passwords.js';

export type UserRole = 'admin' | 'practitioner' | 'patient';

export interface Organization {
  id: string;
  name: string;
  /** IANA time zone of the clinic, e.g. Europe/Berlin */
  timeZone: string;
}

export interface UserAccount {
  id: string;
  orgId: string;
  email: string;
  role: UserRole;
  fhirUser?: string;
  displayName?: string;
  disabled: boolean;
}

export interface OAuthClient {
  clientId: string;
  orgId: string;
  name: string;
  scopes: string[];
  /** set for client_secret_basic */
  hasSecret: boolean;
  /** set for private_key_jwt (SMART Backend Services) */
  jwks?: { keys: JWK[] };
  disabled: boolean;
}

/** What a signed-in user gets: every resource of their org, or for a patient the patient's own records. */
export function scopesForRole(role: UserRole): string[] {
  switch (role) {
    case 'admin':
    case 'practitioner':
      return ['openid', 'fhirUser', 'user/*.cruds'];
    case 'patient':
      return ['openid', 'fhirUser', 'patient/*.rs', 'patient/Appointment.cru', 'patient/QuestionnaireResponse.cru', 'patient/Communication.cru'];
  }
}

interface UserRow {
  id: string;
  org_id: string;
  email: string;
  role: UserRole;
  fhir_user: string | null;
  display_name: string | null;
  disabled: boolean;
  password_hash: string;
}

interface ClientRow {
  client_id: string;
  org_id: string;
  name: string;
  scopes: string[];
  secret_hash: string | null;
  jwks: { keys: JWK[] } | null;
  disabled: boolean;
}

const toUser = (r: UserRow): UserAccount => ({
  id: r.id,
  orgId: r.org_id,
  email: r.email,
  role: r.role,
  fhirUser: r.fhir_user ?? undefined,
  displayName: r.display_name ?? undefined,
  disabled: r.disabled,
});

const toClient = (r: ClientRow): OAuthClient => ({
  clientId: r.client_id,
  orgId: r.org_id,
  name: r.name,
  scopes: r.scopes,
  hasSecret: r.secret_hash !== null,
  jwks: r.jwks ?? undefined,
  disabled: r.disabled,
});

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

/** Refresh tokens are long random strings: a SHA-256 is enough to make a stolen table useless. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

/** The account tables. Every function takes the database or an open transaction. */
export const accounts = {
  async createOrganization(db: Queryable, org: { id?: string; name: string; timeZone?: string }): Promise<Organization> {
    const id = org.id ?? randomUUID();
    const timeZone = org.timeZone ?? 'UTC';
    await db.query('INSERT INTO auth_organizations (id, name, time_zone) VALUES ($1, $2, $3)', [id, org.name, timeZone]);
    return { id, name: org.name, timeZone };
  },

  async listOrganizations(db: Queryable): Promise<Organization[]> {
    return (await db.query<Organization>('SELECT id, name, time_zone AS "timeZone" FROM auth_organizations ORDER BY created_at, id')).rows;
  },

  async getOrganization(db: Queryable, id: string): Promise<Organization | undefined> {
    return (await db.query<Organization>('SELECT id, name, time_zone AS "timeZone" FROM auth_organizations WHERE id = $1', [id])).rows[0];
  },

  async createUser(
    db: Queryable,
    user: { orgId: string; email: string; password: string; role: UserRole; fhirUser?: string; displayName?: string },
  ): Promise<UserAccount> {
    const id = randomUUID();
    const passwordHash = await hashSecret(user.password);
    try {
      await db.query(
        `INSERT INTO auth_users (id, org_id, email, password_hash, role, fhir_user, display_name) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, user.orgId, user.email, passwordHash, user.role, user.fhirUser ?? null, user.displayName ?? null],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('A user with this email already exists');
      throw err;
    }
    return { id, orgId: user.orgId, email: user.email, role: user.role, fhirUser: user.fhirUser, displayName: user.displayName, disabled: false };
  },

  async findUserForLogin(db: Queryable, email: string): Promise<(UserAccount & { passwordHash: string }) | undefined> {
    const r = await db.query<UserRow>('SELECT * FROM auth_users WHERE lower(email) = lower($1)', [email]);
    const row = r.rows[0];
    return row ? { ...toUser(row), passwordHash: row.password_hash } : undefined;
  },

  async getUser(db: Queryable, id: string): Promise<UserAccount | undefined> {
    const row = (await db.query<UserRow>('SELECT * FROM auth_users WHERE id = $1', [id])).rows[0];
    return row ? toUser(row) : undefined;
  },

  async listUsers(db: Queryable, orgId: string): Promise<UserAccount[]> {
    return (await db.query<UserRow>('SELECT * FROM auth_users WHERE org_id = $1 ORDER BY created_at, id', [orgId])).rows.map(toUser);
  },

  async createClient(
    db: Queryable,
    client: { orgId: string; name: string; scopes: string[]; clientId?: string; secret?: string; jwks?: { keys: JWK[] } },
  ): Promise<OAuthClient> {
    const clientId = client.clientId ?? randomUUID();
    const secretHash = client.secret ? await hashSecret(client.secret) : null;
    try {
      await db.query(
        `INSERT INTO auth_clients (client_id, org_id, name, secret_hash, jwks, scopes) VALUES ($1, $2, $3, $4, $5, $6)`,
        [clientId, client.orgId, client.name, secretHash, client.jwks ?? null, client.scopes],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('A client with this client_id already exists');
      throw err;
    }
    return { clientId, orgId: client.orgId, name: client.name, scopes: client.scopes, hasSecret: secretHash !== null, jwks: client.jwks, disabled: false };
  },

  async findClient(db: Queryable, clientId: string): Promise<(OAuthClient & { secretHash?: string }) | undefined> {
    const row = (await db.query<ClientRow>('SELECT * FROM auth_clients WHERE client_id = $1', [clientId])).rows[0];
    return row ? { ...toClient(row), secretHash: row.secret_hash ?? undefined } : undefined;
  },

  async listClients(db: Queryable, orgId: string): Promise<OAuthClient[]> {
    return (await db.query<ClientRow>('SELECT * FROM auth_clients WHERE org_id = $1 ORDER BY created_at, client_id', [orgId])).rows.map(toClient);
  },

  /** Records a client assertion's jti; false when it was seen before (a replay). */
  async recordAssertion(db: Queryable, clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    await db.query('DELETE FROM auth_client_assertions WHERE expires_at < now()');
    const r = await db.query(
      'INSERT INTO auth_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING jti',
      [clientId, jti, expiresAt],
    );
    return r.rowCount > 0;
  },
};

/** Sign-in sessions and their rotating refresh tokens. */
export const sessions = {
  async start(db: Queryable, user: UserAccount, lifetimeSeconds: number): Promise<{ sessionId: string; refreshToken: string }> {
    const sessionId = randomUUID();
    const expiresAt = new Date(Date.now() + lifetimeSeconds * 1000);
    await db.query('INSERT INTO auth_sessions (id, user_id, org_id, expires_at) VALUES ($1, $2, $3, $4)', [sessionId, user.id, user.orgId, expiresAt]);
    const refreshToken = await this.addRefreshToken(db, sessionId, expiresAt);
    return { sessionId, refreshToken };
  },

  async addRefreshToken(db: Queryable, sessionId: string, expiresAt: Date): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await db.query('INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)', [hashToken(token), sessionId, expiresAt]);
    return token;
  },

  /**
   * Exchanges a refresh token for a new one (rotation). A token used twice means it was copied: the whole
   * session is revoked, so neither the thief nor the user can go on with it.
   */
  async rotate(
    db: Queryable,
    refreshToken: string,
  ): Promise<{ sessionId: string; userId: string; refreshToken: string } | { reusedSessionId: string } | undefined> {
    const r = await db.query<{ session_id: string; user_id: string; used_at: Date | null; expires_at: Date; revoked_at: Date | null; session_expires: Date }>(
      `SELECT t.session_id, s.user_id, t.used_at, t.expires_at, s.revoked_at, s.expires_at AS session_expires
       FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
       WHERE t.token_hash = $1 FOR UPDATE OF t`,
      [hashToken(refreshToken)],
    );
    const row = r.rows[0];
    if (!row || row.revoked_at || new Date(row.expires_at) < new Date()) return undefined;
    if (row.used_at) {
      await this.revoke(db, row.session_id);
      return { reusedSessionId: row.session_id };
    }
    await db.query('UPDATE auth_refresh_tokens SET used_at = now() WHERE token_hash = $1', [hashToken(refreshToken)]);
    const next = await this.addRefreshToken(db, row.session_id, new Date(row.session_expires));
    return { sessionId: row.session_id, userId: row.user_id, refreshToken: next };
  },

  async sessionOf(db: Queryable, refreshToken: string): Promise<string | undefined> {
    const r = await db.query<{ session_id: string }>('SELECT session_id FROM auth_refresh_tokens WHERE token_hash = $1', [hashToken(refreshToken)]);
    return r.rows[0]?.session_id;
  },

  async revoke(db: Queryable, sessionId: string): Promise<void> {
    await db.query('UPDATE auth_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [sessionId]);
  },

  async isActive(db: Queryable, sessionId: string): Promise<boolean> {
    const r = await db.query('SELECT 1 FROM auth_sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()', [sessionId]);
    return r.rowCount > 0;
  },
};
