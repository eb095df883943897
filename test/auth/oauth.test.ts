import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { accounts } from '../../src/auth/accounts.js';
import { createTestServer, type TestServer } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';

const TOKEN_URL = 'http://fhir.test/oauth2/token';
const FORM = 'application/x-www-form-urlencoded';

describe.each(testDatabaseKinds())('POST /oauth2/token on %s', (kind) => {
  let server: TestServer;
  let orgId: string;
  let privateKey: CryptoKey;
  beforeAll(async () => {
    server = await createTestServer(kind);
    orgId = await server.auth.createOrg('Backend org');
    await accounts.createClient(server.db, { orgId, clientId: 'secret-client', name: 'Secret client', secret: 'client-secret-0123456789', scopes: ['system/*.cruds'] });
    const pair = await generateKeyPair('RS384', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS384' };
    await accounts.createClient(server.db, { orgId, clientId: 'jwt-client', name: 'Backend service', jwks: { keys: [jwk] }, scopes: ['system/*.rs'] });
  });
  afterAll(() => server.close());

  const token = (payload: string, authorization?: string) =>
    server.app.inject({ method: 'POST', url: '/oauth2/token', headers: { 'content-type': FORM, authorization }, payload });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const assertion = (claims: { aud?: string; exp?: number; jti?: string; iss?: string } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'RS384', kid: 'k1', typ: 'JWT' })
      .setIssuer(claims.iss ?? 'jwt-client')
      .setSubject('jwt-client')
      .setAudience(claims.aud ?? TOKEN_URL)
      .setJti(claims.jti ?? randomUUID())
      .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 240)
      .sign(privateKey);
  const assertionForm = (jwt: string, scope = 'system/*.rs') =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    }).toString();

  it('issues a token for client_secret_basic, narrowed to the requested scopes', async () => {
    const res = await token('grant_type=client_credentials&scope=system%2FPatient.rs', basic('secret-client', 'client-secret-0123456789'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ token_type: 'bearer', scope: 'system/Patient.rs', expires_in: 300 });
    const auth = { authorization: `Bearer ${body.access_token}` };
    expect((await server.app.inject({ url: '/fhir/Patient', headers: auth })).statusCode).toBe(200);
    const create = await server.app.inject({ method: 'POST', url: '/fhir/Patient', headers: { ...auth, 'content-type': 'application/fhir+json' }, payload: { resourceType: 'Patient' } });
    expect(create.statusCode).toBe(403);
  });

  it('refuses a wrong secret, an unknown client and other grant types', async () => {
    expect((await token('grant_type=client_credentials', basic('secret-client', 'wrong'))).json().error).toBe('invalid_client');
    expect((await token('grant_type=client_credentials', basic('nobody', 'client-secret-0123456789'))).statusCode).toBe(401);
    expect((await token('grant_type=password&username=a&password=b', basic('secret-client', 'client-secret-0123456789'))).json().error).toBe('unsupported_grant_type');
    expect((await token('grant_type=client_credentials&scope=system%2FPatient.rs')).statusCode).toBe(401);
  });

  it('accepts a private_key_jwt assertion once and refuses its replay', async () => {
    const jwt = await assertion();
    const first = await token(assertionForm(jwt));
    expect(first.statusCode).toBe(200);
    expect(first.json().scope).toBe('system/*.rs');
    const claims = JSON.parse(Buffer.from(first.json().access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ org: orgId, kind: 'client', sub: 'jwt-client' });
    const replay = await token(assertionForm(jwt));
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error_description).toContain('already used');
  });

  it('refuses an assertion for another audience, too far ahead, from another issuer, or asking beyond its scopes', async () => {
    expect((await token(assertionForm(await assertion({ aud: 'http://elsewhere/token' })))).statusCode).toBe(401);
    expect((await token(assertionForm(await assertion({ exp: Math.floor(Date.now() / 1000) + 3600 })))).statusCode).toBe(401);
    expect((await token(assertionForm(await assertion({ exp: Math.floor(Date.now() / 1000) - 60 })))).statusCode).toBe(401);
    expect((await token(assertionForm(await assertion({ iss: 'secret-client' })))).statusCode).toBe(401);
    const beyond = await token(assertionForm(await assertion(), 'system/Patient.c'));
    expect(beyond.statusCode).toBe(400);
    expect(beyond.json().error).toBe('invalid_scope');
  });

  it('refuses an assertion signed by a key the client did not register', async () => {
    const { privateKey: stranger } = await generateKeyPair('RS384');
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS384', kid: 'k1' })
      .setIssuer('jwt-client')
      .setSubject('jwt-client')
      .setAudience(TOKEN_URL)
      .setJti(randomUUID())
      .setExpirationTime('4m')
      .sign(stranger);
    expect((await token(assertionForm(jwt))).statusCode).toBe(401);
  });
});
