import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import { accounts } from '../../src/auth/accounts.js';

describe.each(testDatabaseKinds())('the clinic’s time zone on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind, { DEFAULT_TIME_ZONE: 'America/New_York' });
  });
  afterAll(() => server.close());

  it('an admin creates an organization in its zone; its users see the zone in /auth/me', async () => {
    const orgId = await server.auth.createOrg('Origin clinic');
    const admin = await server.auth.createUser(orgId, 'admin');
    const bad = await server.app.inject({
      method: 'POST',
      url: '/api/admin/organizations',
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { name: 'Nowhere', timeZone: 'Mars/Olympus_Mons', admin: { email: 'a@nowhere.test', password: 'a-long-password' } },
    });
    expect(bad.statusCode).toBe(400);

    const created = await server.app.inject({
      method: 'POST',
      url: '/api/admin/organizations',
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { name: 'Berlin clinic', timeZone: 'Europe/Berlin', admin: { email: 'admin@berlin.test', password: 'a-long-password' } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().timeZone).toBe('Europe/Berlin');

    const login = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { authorization: undefined },
      payload: { email: 'admin@berlin.test', password: 'a-long-password' },
    });
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${login.json().access_token}` } });
    expect(me.json().organization).toEqual({ id: created.json().id, name: 'Berlin clinic', timeZone: 'Europe/Berlin' });
  });

  it('an organization created without a zone gets DEFAULT_TIME_ZONE', async () => {
    const orgId = await server.auth.createOrg('Zone-less clinic');
    const admin = await server.auth.createUser(orgId, 'admin');
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/admin/organizations',
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { name: 'Default clinic', admin: { email: 'admin@default.test', password: 'a-long-password' } },
    });
    expect(created.statusCode).toBe(201);
    expect((await accounts.getOrganization(server.db, created.json().id))?.timeZone).toBe('America/New_York');
  });
});
