import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { HmsFakeServer } from '../../fakes/hms-fake-server.js';

/** The fake is only useful if it refuses what 100ms refuses; these pin that down. */

const ACCESS_KEY = 'ak-test-0123456789';
const APP_SECRET = 'app-secret-for-tests-0123456789abcdef';
const TEMPLATE = 'tmpl-telehealth';

let fake: HmsFakeServer;

beforeAll(async () => {
  fake = await HmsFakeServer.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET, templates: { [TEMPLATE]: ['host', 'guest'] } });
});

afterAll(async () => {
  await fake.close();
});

async function token(claims: Record<string, unknown>, options: { secret?: string; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ access_key: ACCESS_KEY, type: 'management', version: 2, ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(options.exp ?? now + 600)
    .setJti(crypto.randomUUID())
    .sign(new TextEncoder().encode(options.secret ?? APP_SECRET));
}

async function call(path: string, init: { method?: string; auth?: string | null; body?: unknown; contentType?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': init.contentType ?? 'application/json' };
  const auth = init.auth === undefined ? await token({}) : init.auth;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  const res = await fetch(`${fake.baseUrl}${path}`, {
    method: init.method ?? 'POST',
    headers,
    body: init.method === 'GET' ? undefined : JSON.stringify(init.body ?? {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('fake 100ms enforces', () => {
  it('a management token: present, HS256 with the app secret, type management, version 2, access key, not expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      null,
      'not-a-jwt',
      await token({}, { secret: 'some-other-secret-0123456789abcdef' }),
      await token({ type: 'app' }),
      await token({ version: 1 }),
      await token({ access_key: 'another-key' }),
      await token({}, { exp: now - 10 }),
    ];
    for (const auth of refused) {
      const res = await call('/rooms', { auth, body: { name: 'x' } });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ code: 401, message: expect.any(String), details: expect.any(Array) });
    }
    expect((await call('/rooms', { body: { name: 'x' } })).status).toBe(200);
  });

  it('exact paths and methods', async () => {
    expect((await call('/room', { body: { name: 'x' } })).status).toBe(404);
    expect((await call('/rooms', { method: 'PUT', body: { name: 'x' } })).status).toBe(404);
    expect((await call('/active-rooms/abc/end', { body: {} })).status).toBe(404);
  });

  it('JSON bodies, room-name characters, template_id and field types', async () => {
    expect((await call('/rooms', { body: { name: 'x' }, contentType: 'text/plain' })).status).toBe(400);
    for (const name of ['appt 1', 'appt/1', 'appt#1', 'é']) {
      expect((await call('/rooms', { body: { name } })).body).toMatchObject({ code: 400, message: 'Invalid body param: name' });
    }
    expect((await call('/rooms', { body: { name: 'A.b-c:d_9' } })).status).toBe(200);
    expect((await call('/rooms', { body: { name: 'y', template: TEMPLATE } })).body).toMatchObject({
      code: 400,
      message: 'Invalid body param: template. Use template_id',
    });
    expect((await call('/rooms', { body: { name: 'y', template_id: 'nope' } })).body).toMatchObject({ code: 400, message: 'Error: template not found' });
    expect((await call('/rooms', { body: { name: 7 } })).status).toBe(400);
  });

  it('end-room: 404 without a live session, 200 with one, lock must be boolean', async () => {
    const created = await call('/rooms', { body: { name: 'end-me', template_id: TEMPLATE } });
    const roomId = created.body.id as string;
    expect((await call('/active-rooms/unknown-room/end-room', { body: { reason: 'x' } })).status).toBe(404);
    expect(await call(`/active-rooms/${roomId}/end-room`, { body: { reason: 'x', lock: true } })).toMatchObject({
      status: 404,
      body: { code: 404 },
    });
    await fake.peerJoins(roomId, { userId: 'u', role: 'host' });
    expect((await call(`/active-rooms/${roomId}/end-room`, { body: { lock: 'yes' } })).status).toBe(400);
    expect(await call(`/active-rooms/${roomId}/end-room`, { body: { reason: 'x', lock: false } })).toEqual({
      status: 200,
      body: { message: 'session is ending' },
    });
    await fake.idle();
    expect(fake.rooms.get(roomId)?.session).toBeUndefined();
  });

  it('peers only in roles of the room template', async () => {
    const created = await call('/rooms', { body: { name: 'roles', template_id: TEMPLATE } });
    await expect(fake.peerJoins(created.body.id as string, { userId: 'u', role: 'admin' })).rejects.toThrow(/role not allowed/);
  });
});
