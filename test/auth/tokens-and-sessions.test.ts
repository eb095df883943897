import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, generateKeyPair } from 'jose';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';

const NONE = { authorization: undefined };

describe.each(testDatabaseKinds())('access tokens, sign-in and sessions on %s', (kind) => {
  let server: TestServer;
  let practitioner: TestUser;
  beforeAll(async () => {
    server = await createTestServer(kind);
    practitioner = await server.auth.createUser(DEFAULT_ORG_ID, 'practitioner');
  });
  afterAll(() => server.close());

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const login = (email: string, password: string) =>
    server.app.inject({ method: 'POST', url: '/auth/login', headers: NONE, payload: { email, password } });
  const refreshCookie = (res: { cookies: { name: string; value: string }[] }) => res.cookies.find((c) => c.name === 'refresh_token');

  it('answers the public endpoints without a token', async () => {
    const metadata = await server.app.inject({ url: '/fhir/metadata', headers: NONE });
    expect(metadata.statusCode).toBe(200);
    expect(metadata.json().rest[0].security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    for (const url of ['/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
      const res = await server.app.inject({ url, headers: NONE });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        token_endpoint: 'http://fhir.test/oauth2/token',
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'],
        grant_types_supported: ['client_credentials'],
      });
    }
    const jwks = await server.app.inject({ url: '/.well-known/jwks.json', headers: NONE });
    expect(jwks.json().keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwks.json().keys[0].d).toBeUndefined();
    expect((await server.app.inject({ url: '/healthz', headers: NONE })).statusCode).toBe(200);
  });

  it('sets security headers', async () => {
    const res = await server.app.inject({ url: '/healthz', headers: NONE });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).toContain("media-src 'self' blob:");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['cross-origin-embedder-policy']).toBeUndefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
    // the same set on an error answer and on a FHIR response
    const fhir = await server.app.inject({ url: '/fhir/Patient/none', headers: NONE });
    expect(fhir.statusCode).toBe(401);
    expect(fhir.headers['content-security-policy']).toBe(res.headers['content-security-policy']);
    expect(fhir.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers no cross-origin request when CORS_ORIGINS is not set', async () => {
    const preflight = await server.app.inject({
      method: 'OPTIONS',
      url: '/fhir/Patient',
      headers: { ...NONE, origin: 'https://elsewhere.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    const get = await server.app.inject({ url: '/healthz', headers: { ...NONE, origin: 'https://elsewhere.example' } });
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses FHIR requests without a token, or with an expired, forged or wrong-audience one', async () => {
    const none = await server.app.inject({ url: '/fhir/Patient', headers: NONE });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');

    const expired = await server.auth.tokens.issue({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'c', scopes: ['system/*.rs'] }, { expiresIn: -60 });
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ org: DEFAULT_ORG_ID, kind: 'client', scope: 'system/*.cruds' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer('http://fhir.test')
      .setAudience('http://fhir.test/fhir')
      .setSubject('c')
      .setJti('x')
      .setExpirationTime('1h')
      .sign(privateKey);
    const otherAudience = await server.auth.tokens.issue({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'c', scopes: ['system/*.rs'] });
    // Re-sign the same claims for another resource server: our verifier must refuse it.
    const [header, payload, signature] = otherAudience.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, aud: 'http://elsewhere/fhir' })).toString('base64url'), signature].join('.');

    for (const token of [expired.accessToken, forged, tampered, 'not-a-jwt']) {
      const res = await server.app.inject({ url: '/fhir/Patient', headers: bearer(token) });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toContain('invalid_token');
    }
  });

  it('refuses a validly signed token for another audience', async () => {
    const { AccessTokens } = await import('../../src/auth/access-tokens.js');
    const { loadOrCreateSigningKey } = await import('../../src/auth/signing-keys.js');
    const sameKeyOtherAudience = new AccessTokens(await loadOrCreateSigningKey(server.db), { issuer: 'http://fhir.test', audience: 'http://other.example/fhir' });
    const token = (await sameKeyOtherAudience.issue({ orgId: DEFAULT_ORG_ID, kind: 'client', subject: 'c', scopes: ['system/*.rs'] })).accessToken;
    expect((await server.app.inject({ url: '/fhir/Patient', headers: bearer(token) })).statusCode).toBe(401);
  });

  it('signs in, tells who is signed in, and answers the same for unknown email and wrong password', async () => {
    const wrong = await login(practitioner.email, 'not the password');
    const unknown = await login('nobody@test.example', 'whatever-password');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());

    const res = await login(practitioner.email.toUpperCase(), practitioner.password);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, user: { role: 'practitioner', fhirUser: practitioner.fhirUser } });
    const cookie = refreshCookie(res)!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth' });
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ org: DEFAULT_ORG_ID, fhirUser: practitioner.fhirUser, aud: 'http://fhir.test/fhir', iss: 'http://fhir.test' });

    const me = await server.app.inject({ url: '/auth/me', headers: bearer(body.access_token) });
    expect(me.json()).toMatchObject({ email: practitioner.email, role: 'practitioner', orgId: DEFAULT_ORG_ID });
    expect((await server.app.inject({ url: '/auth/me', headers: NONE })).statusCode).toBe(401);
  });

  it('rotates the refresh token, and a reused one ends the session', async () => {
    const first = await login(practitioner.email, practitioner.password);
    const cookie1 = refreshCookie(first)!.value;
    const refresh = (value: string) => server.app.inject({ method: 'POST', url: '/auth/refresh', headers: NONE, cookies: { refresh_token: value } });

    const second = await refresh(cookie1);
    expect(second.statusCode).toBe(200);
    const cookie2 = refreshCookie(second)!.value;
    expect(cookie2).not.toBe(cookie1);
    const access2 = second.json().access_token;
    expect((await server.app.inject({ url: '/fhir/Practitioner', headers: bearer(access2) })).statusCode).toBe(200);

    // The first token again: someone copied it. Both it and the rotated one stop working, and so do access tokens.
    expect((await refresh(cookie1)).statusCode).toBe(401);
    expect((await refresh(cookie2)).statusCode).toBe(401);
    expect((await server.app.inject({ url: '/fhir/Practitioner', headers: bearer(access2) })).statusCode).toBe(401);
  });

  it('logout revokes the refresh token and the access tokens of the session', async () => {
    const res = await login(practitioner.email, practitioner.password);
    const access = res.json().access_token;
    const cookie = refreshCookie(res)!.value;
    const out = await server.app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(access), cookies: { refresh_token: cookie } });
    expect(out.statusCode).toBe(204);
    expect((await server.app.inject({ url: '/auth/me', headers: bearer(access) })).statusCode).toBe(401);
    const again = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: NONE, cookies: { refresh_token: cookie } });
    expect(again.statusCode).toBe(401);
  });
});

describe.each(testDatabaseKinds())('login rate limit on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind, { LOGIN_RATE_LIMIT: '3' });
  });
  afterAll(() => server.close());

  it('answers 429 after too many attempts from one address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: undefined }, payload: { email: 'x@test.example', password: `guess-${i}` } });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('CORS for the origins in CORS_ORIGINS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer('pglite', { CORS_ORIGINS: 'https://app.clinic.example' });
  });
  afterAll(() => server.close());

  it('lets a listed origin call the FHIR API with credentials and see its headers, and nobody else', async () => {
    const allowed = await server.app.inject({
      method: 'OPTIONS',
      url: '/fhir/Patient',
      headers: { origin: 'https://app.clinic.example', 'access-control-request-method': 'POST' },
    });
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.clinic.example');
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    const get = await server.app.inject({ url: '/healthz', headers: { origin: 'https://app.clinic.example' } });
    expect(String(get.headers['access-control-expose-headers'])).toContain('ETag');
    const other = await server.app.inject({
      method: 'OPTIONS',
      url: '/fhir/Patient',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});
