import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Patient, Practitioner } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { buildApp } from '../../src/http/app.js';
import { createTestDatabase, type DatabaseKind } from './db.js';
import type { Database } from '../../src/db/database.js';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { accounts, scopesForRole, type UserAccount, type UserRole } from '../../src/auth/accounts.js';
import type { Principal } from '../../src/auth/principal.js';
import { loadOrCreateSigningKey } from '../../src/auth/signing-keys.js';
import type { FhirStore } from '../../src/fhir/store.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';

export interface TestServer {
  app: FastifyInstance;
  db: Database;
  store: FhirStore;
  /**
   * `Bearer …` of a system client of the default org with system/*.cruds. app.inject() sends it when a request
   * has no Authorization header; pass `authorization: undefined` to send none.
   */
  defaultAuthorization: string;
  auth: TestAuth;
  close(): Promise<void>;
}

export interface TestUser {
  user: UserAccount;
  email: string;
  password: string;
  /** an access token as /auth/login would give (without a session) */
  token: string;
  fhirUser?: string;
}

/** Organizations, users and tokens for tests, made directly (no HTTP round trips). */
export interface TestAuth {
  tokens: AccessTokens;
  createOrg(name?: string): Promise<string>;
  createUser(orgId: string, role: UserRole, opts?: { fhirUser?: string; password?: string }): Promise<TestUser>;
  /** a token for any principal, e.g. a client with narrow scopes */
  token(principal: Pick<Principal, 'orgId' | 'scopes'> & Partial<Principal>): Promise<string>;
}

let userCounter = 0;

/** The whole HTTP server on a fresh database, for app.inject() tests. */
export async function createTestServer(kind: DatabaseKind, env: Record<string, string> = {}): Promise<TestServer> {
  const database = await createTestDatabase(kind);
  const config = loadConfig({ PUBLIC_BASE_URL: 'http://fhir.test', DEMO_DATA: 'false', ...env });
  const store = createDefaultFhirStore(database.db);
  const app = await buildApp({ config, db: database.db, store });
  await app.ready();

  const tokens = new AccessTokens(await loadOrCreateSigningKey(database.db), {
    issuer: config.publicBaseUrl,
    audience: `${config.publicBaseUrl}/fhir`,
  });
  const auth: TestAuth = {
    tokens,
    async createOrg(name = 'Test org') {
      return (await accounts.createOrganization(database.db, { name })).id;
    },
    async createUser(orgId, role, opts = {}) {
      let fhirUser = opts.fhirUser;
      if (!fhirUser && role !== 'admin') {
        const repo = store.repository({ orgId, baseUrl: `${config.publicBaseUrl}/fhir` });
        const resource: Patient | Practitioner =
          role === 'patient'
            ? { resourceType: 'Patient', name: [{ family: 'Testpatient' }], birthDate: '1990-01-01' }
            : { resourceType: 'Practitioner', name: [{ family: 'Testpractitioner' }] };
        fhirUser = `${resource.resourceType}/${(await repo.create(resource)).resource.id}`;
      }
      const email = `user${++userCounter}-${Date.now()}@test.example`;
      const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}-long`;
      const user = await accounts.createUser(database.db, { orgId, email, password, role, fhirUser });
      const token = await auth.token({ orgId, kind: 'user', subject: user.id, role, fhirUser, scopes: scopesForRole(role) });
      return { user, email, password, token, fhirUser };
    },
    async token(principal) {
      const issued = await tokens.issue({ kind: 'client', subject: 'test-client', ...principal });
      return issued.accessToken;
    },
  };
  await accounts.createOrganization(database.db, { id: DEFAULT_ORG_ID, name: 'Default test org' });
  const defaultAuthorization = `Bearer ${await auth.token({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'test-system-client', scopes: ['system/*.cruds'] })}`;

  const inject = app.inject.bind(app);
  (app as { inject: unknown }).inject = (opts?: InjectOptions | string) => {
    if (opts === undefined) return inject();
    const o: InjectOptions = typeof opts === 'string' ? { url: opts } : opts;
    const headers = { ...((o.headers ?? {}) as Record<string, string | undefined>) };
    if (!('authorization' in headers)) headers.authorization = defaultAuthorization;
    else if (headers.authorization === undefined) delete headers.authorization;
    return inject({ ...o, headers: headers as InjectOptions['headers'] });
  };

  return {
    app,
    db: database.db,
    store,
    defaultAuthorization,
    auth,
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}
