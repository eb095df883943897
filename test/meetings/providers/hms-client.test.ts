import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { createVideoProvider, type HmsProviderConfig } from '../../../src/meetings/providers/factory.js';
import { ProviderError } from '../../../src/meetings/providers/errors.js';
import type { VideoProvider } from '../../../src/meetings/providers/types.js';
import { HmsFakeServer } from '../../fakes/hms-fake-server.js';

const ACCESS_KEY = 'ak-test-0123456789';
const APP_SECRET = 'app-secret-for-tests-0123456789abcdef';
const TEMPLATE = 'tmpl-telehealth';
const secret = new TextEncoder().encode(APP_SECRET);

let fake: HmsFakeServer;

function provider(overrides: Partial<HmsProviderConfig> = {}): VideoProvider {
  return createVideoProvider({
    provider: '100ms',
    accessKey: ACCESS_KEY,
    appSecret: APP_SECRET,
    templateId: TEMPLATE,
    webhookSecret: 'hook-secret-0123456789',
    apiBaseUrl: fake.baseUrl,
    timeoutMs: 2_000,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    ...overrides,
  });
}

async function providerErrorOf(work: Promise<unknown>): Promise<ProviderError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

beforeEach(async () => {
  fake = await HmsFakeServer.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET, templates: { [TEMPLATE]: ['host', 'guest'] } });
});

afterEach(async () => {
  await fake.close();
});

describe('100ms client: requests', () => {
  it('creates a room with exactly POST /v2/rooms {name, description, template_id} and a valid management token', async () => {
    const video = provider();
    const room = await video.createRoom({ name: 'appt-123', description: 'Video visit', meetingId: 'm-1' });

    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v2/rooms');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.accept).toBe('application/json');
    expect(req.body).toEqual({ name: 'appt-123', description: 'Video visit', template_id: TEMPLATE });

    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
    expect(payload).toMatchObject({ access_key: ACCESS_KEY, type: 'management', version: 2 });
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.exp! * 1000).toBeGreaterThan(Date.now());

    expect(room.roomId).toBe(fake.roomByName('appt-123')?.id);
    expect(room.details).toMatchObject({ id: room.roomId, name: 'appt-123', template_id: TEMPLATE, enabled: true });
  });

  it('treats create-by-name as an upsert and reuses the cached management token', async () => {
    const video = provider();
    const first = await video.createRoom({ name: 'instant-abc', meetingId: 'm-2' });
    const again = await video.createRoom({ name: 'INSTANT-abc', description: 'renamed', meetingId: 'm-2' });
    expect(again.roomId).toBe(first.roomId);
    expect(fake.requests[0].body).toEqual({ name: 'instant-abc', template_id: TEMPLATE });
    expect(fake.requests[1].headers.authorization).toBe(fake.requests[0].headers.authorization);
  });

  it('mints a new management token shortly before the cached one expires', async () => {
    // Starts in the past so that every token is valid by the fake's real clock too.
    let clock = Date.now() - 550_000;
    const video = provider({ now: () => clock, managementTokenTtlSeconds: 600 });
    await video.createRoom({ name: 'appt-t1', meetingId: 'm-t' });
    clock += 500_000;
    await video.createRoom({ name: 'appt-t1', meetingId: 'm-t' });
    clock += 50_000;
    await video.createRoom({ name: 'appt-t1', meetingId: 'm-t' });
    const auth = fake.requests.map((r) => r.headers.authorization);
    expect(auth[1]).toBe(auth[0]);
    expect(auth[2]).not.toBe(auth[1]);
  });

  it('gives every provider object its own management token', async () => {
    await provider().createRoom({ name: 'appt-a', meetingId: 'm-a' });
    await provider().createRoom({ name: 'appt-b', meetingId: 'm-b' });
    expect(fake.requests[1].headers.authorization).not.toBe(fake.requests[0].headers.authorization);
  });

  it('refuses a room name 100ms would reject without calling it', async () => {
    const err = await providerErrorOf(provider().createRoom({ name: 'appt 12/3', meetingId: 'm-3' }));
    expect(err.code).toBe('invalid-request');
    expect(err.status).toBe(400);
    expect(fake.requests).toHaveLength(0);
  });

  it('ends an active room with POST /v2/active-rooms/{id}/end-room {reason, lock}', async () => {
    const video = provider();
    const { roomId } = await video.createRoom({ name: 'appt-end', meetingId: 'm-4' });
    await fake.peerJoins(roomId, { userId: 'Practitioner/1', role: 'host' });

    await expect(video.endRoom(roomId, { reason: 'Visit finished', lock: true })).resolves.toEqual({ alreadyEnded: false });
    const req = fake.requests.at(-1)!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/v2/active-rooms/${roomId}/end-room`);
    expect(req.body).toEqual({ reason: 'Visit finished', lock: true });
    expect(fake.rooms.get(roomId)?.enabled).toBe(false);
    await expect(fake.peerJoins(roomId, { userId: 'Patient/1', role: 'guest' })).rejects.toThrow(/disabled/);
  });

  it('reads 404 from end-room (no live session) as already ended', async () => {
    const video = provider();
    const { roomId } = await video.createRoom({ name: 'appt-idle', meetingId: 'm-5' });
    await expect(video.endRoom(roomId, { reason: 'Visit finished', lock: true })).resolves.toEqual({ alreadyEnded: true });
  });
});

describe('100ms client: join tokens', () => {
  it('signs an app token bound to room, user and template role, valid until expiresAt, that 100ms accepts', async () => {
    const video = provider();
    const { roomId } = await video.createRoom({ name: 'appt-join', meetingId: 'm-6' });
    const expiresAt = new Date(Date.now() + 30 * 60_000);
    const creds = await video.issueJoinCredentials({
      roomId,
      meetingId: 'm-6',
      participantId: 'p-1',
      userId: 'Patient/7',
      role: 'patient',
      displayName: 'Ada',
      expiresAt,
    });
    expect(creds).toMatchObject({ provider: '100ms', roomId, providerRole: 'guest', userId: 'Patient/7' });

    const { payload, protectedHeader } = await jwtVerify(creds.token, secret, { algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ access_key: ACCESS_KEY, room_id: roomId, user_id: 'Patient/7', role: 'guest', type: 'app', version: 2 });
    expect(payload.exp).toBe(Math.floor(expiresAt.getTime() / 1000));
    expect(creds.expiresAt).toBe(new Date(payload.exp! * 1000).toISOString());
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.nbf).toBe(payload.iat);

    await expect(fake.joinWithAuthToken(creds.token)).resolves.toMatchObject({ peerId: expect.any(String) });
  });

  it('maps roles to the configured template role names', async () => {
    const video = provider({ roleNames: { patient: 'patient', guest: 'viewer' } });
    const base = { roomId: 'r', meetingId: 'm', participantId: 'p', userId: 'u', displayName: 'X', expiresAt: new Date(Date.now() + 60_000) };
    const roles = await Promise.all(
      (['host', 'patient', 'guest'] as const).map(async (role) => {
        const creds = await video.issueJoinCredentials({ ...base, role });
        return (await jwtVerify(creds.token, secret)).payload.role;
      }),
    );
    expect(roles).toEqual(['host', 'patient', 'viewer']);
  });

  it('refuses an expiry in the past', async () => {
    const video = provider();
    await expect(
      video.issueJoinCredentials({ roomId: 'r', meetingId: 'm', participantId: 'p', userId: 'u', role: 'host', displayName: 'X', expiresAt: new Date(Date.now() - 1) }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('100ms client: failures', () => {
  it('retries 503 and 429, then succeeds', async () => {
    fake.failNext({ status: 503 }, { status: 429, headers: { 'retry-after': '0' }, body: { code: 429, message: 'Too many requests', details: [] } });
    const room = await provider().createRoom({ name: 'appt-retry', meetingId: 'm-7' });
    expect(room.roomId).toEqual(expect.any(String));
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v2/rooms', 'POST /v2/rooms', 'POST /v2/rooms']);
  });

  it('does not retry a 400 and keeps 100ms code, message, details and status', async () => {
    fake.failNext({ status: 400, body: { code: 400, message: 'Error: template not found', details: ['template_id'] } });
    const err = await providerErrorOf(provider().createRoom({ name: 'appt-bad', meetingId: 'm-8' }));
    expect(fake.requests).toHaveLength(1);
    expect(err).toMatchObject({
      provider: '100ms',
      providerStatus: 400,
      code: 400,
      message: 'Error: template not found',
      details: ['template_id'],
      retryable: false,
      status: 502,
    });
    expect(err.outcome.issue?.[0]?.diagnostics).toContain('Error: template not found');
  });

  it('gives up after the bounded retries when 100ms stays down', async () => {
    fake.setDown(true);
    const err = await providerErrorOf(provider({ maxRetries: 2 }).createRoom({ name: 'appt-down', meetingId: 'm-9' }));
    expect(fake.requests).toHaveLength(3);
    expect(err).toMatchObject({ providerStatus: 503, code: 503, message: 'Service Unavailable', retryable: true, status: 502 });
  });

  it('reports dropped connections as a retryable network error', async () => {
    fake.setDown('refuse');
    const err = await providerErrorOf(provider({ maxRetries: 1 }).endRoom('abc', { reason: 'x', lock: true }));
    expect(fake.requests).toHaveLength(2);
    expect(err).toMatchObject({ code: 'network', providerStatus: undefined, retryable: true, status: 502 });
  });

  it('times out a slow answer', async () => {
    fake.delayNext(1_500);
    const started = Date.now();
    const err = await providerErrorOf(provider({ timeoutMs: 100, maxRetries: 0 }).createRoom({ name: 'appt-slow', meetingId: 'm-10' }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(err).toMatchObject({ code: 'timeout', retryable: true, status: 504 });
  });

  it('retries a timeout and succeeds when 100ms answers again', async () => {
    fake.delayNext(1_500);
    const room = await provider({ timeoutMs: 100, maxRetries: 1 }).createRoom({ name: 'appt-slow2', meetingId: 'm-11' });
    expect(room.roomId).toEqual(expect.any(String));
    expect(fake.requests).toHaveLength(2);
  });

  it('keeps 100ms 401 when the credentials are wrong, after one fresh token', async () => {
    const err = await providerErrorOf(provider({ appSecret: 'not-the-app-secret-0123456789' }).createRoom({ name: 'appt-401', meetingId: 'm-12' }));
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1].headers.authorization).not.toBe(fake.requests[0].headers.authorization);
    expect(err).toMatchObject({ providerStatus: 401, code: 401, message: 'Token validation error', retryable: false, status: 502 });
  });

  it('rejects an answer that does not match the documented shape', async () => {
    fake.failNext({ status: 200, body: { unexpected: true } });
    const err = await providerErrorOf(provider().createRoom({ name: 'appt-odd', meetingId: 'm-13' }));
    expect(err).toMatchObject({ code: 'invalid-response', providerStatus: 200, retryable: false });
  });
});
