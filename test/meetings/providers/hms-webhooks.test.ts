import { afterEach, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createVideoProvider, type HmsProviderConfig } from '../../../src/meetings/providers/factory.js';
import { WebhookAuthenticationError } from '../../../src/meetings/providers/errors.js';
import { mapHmsEvent } from '../../../src/meetings/providers/hms/webhooks.js';
import { hmsWebhookSchema } from '../../../src/meetings/providers/hms/schemas.js';
import type { ProviderEvent, VideoProvider } from '../../../src/meetings/providers/types.js';
import { HmsFakeServer, type HmsFakeWebhookConfig } from '../../fakes/hms-fake-server.js';
import { WebhookReceiver, type ReceivedWebhook } from '../../fakes/webhook-receiver.js';

const ACCESS_KEY = 'ak-test-0123456789';
const APP_SECRET = 'app-secret-for-tests-0123456789abcdef';
const TEMPLATE = 'tmpl-telehealth';
const HOOK_SECRET = 'hook-secret-0123456789abcdef';
const SIGNING_SECRET = 'signing-secret-0123456789abcdef';

interface Harness {
  fake: HmsFakeServer;
  receiver: WebhookReceiver;
  video: VideoProvider;
  events: ProviderEvent[];
  rejected: unknown[];
}

let harness: Harness | undefined;

/** The fake posts webhooks to a receiver that hands them to the provider, as the product's route will. */
async function start(options: { provider?: Partial<HmsProviderConfig>; webhook?: Partial<HmsFakeWebhookConfig> } = {}): Promise<Harness> {
  const events: ProviderEvent[] = [];
  const rejected: unknown[] = [];
  let video!: VideoProvider;
  const receiver = await WebhookReceiver.start(async (hook: ReceivedWebhook) => {
    try {
      events.push(...(await video.parseWebhook({ headers: hook.headers, rawBody: hook.rawBody })));
      return 200;
    } catch (err) {
      rejected.push(err);
      return err instanceof WebhookAuthenticationError ? 401 : 400;
    }
  });
  const fake = await HmsFakeServer.start({
    accessKey: ACCESS_KEY,
    appSecret: APP_SECRET,
    templates: { [TEMPLATE]: ['host', 'guest'] },
    webhook: { url: receiver.url, secretHeader: 'x-webhook-secret', secret: HOOK_SECRET, ...options.webhook },
  });
  video = createVideoProvider({
    provider: '100ms',
    accessKey: ACCESS_KEY,
    appSecret: APP_SECRET,
    templateId: TEMPLATE,
    webhookSecret: HOOK_SECRET,
    apiBaseUrl: fake.baseUrl,
    retryBaseDelayMs: 1,
    ...options.provider,
  });
  harness = { fake, receiver, video, events, rejected };
  return harness;
}

afterEach(async () => {
  if (!harness) return;
  await harness.fake.close();
  await harness.receiver.close();
  harness = undefined;
});

describe('100ms webhooks', () => {
  it('turns a visit into normalized events: joins, a leave, the end of the room and of the session', async () => {
    const { fake, video, events } = await start();
    const { roomId } = await video.createRoom({ name: 'appt-42', meetingId: 'm-42' });
    const host = await fake.peerJoins(roomId, { userId: 'Practitioner/1', role: 'host' });
    const creds = await video.issueJoinCredentials({
      roomId,
      meetingId: 'm-42',
      participantId: 'p-2',
      userId: 'Patient/2',
      role: 'patient',
      displayName: 'Ada',
      expiresAt: new Date(Date.now() + 600_000),
    });
    const patient = await fake.joinWithAuthToken(creds.token);
    await fake.peerLeaves(roomId, { peerId: patient.peerId });
    await video.endRoom(roomId, { reason: 'Visit finished', lock: true });
    await fake.idle();

    expect(fake.webhookDeliveries.every((d) => d.status === 200)).toBe(true);
    expect(events.map((e) => [e.type, e.rawType, e.userId ?? null, e.reason ?? null])).toEqual([
      ['unknown', 'session.open.success', null, null],
      ['peer.joined', 'peer.join.success', 'Practitioner/1', null],
      ['peer.joined', 'peer.join.success', 'Patient/2', null],
      ['peer.left', 'peer.leave.success', 'Patient/2', 'client request'],
      ['room.ended', 'room.end.success', null, 'Visit finished'],
      ['peer.left', 'peer.leave.success', 'Practitioner/1', 'peer kicked'],
      ['session.closed', 'session.close.success', null, null],
    ]);
    for (const e of events) {
      expect(e.provider).toBe('100ms');
      expect(e.roomId).toBe(roomId);
      expect(e.sessionId).toBe(host.sessionId);
      expect(e.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const joined = events.filter((e) => e.type === 'peer.joined');
    expect(joined.map((e) => [e.peerId, e.role])).toEqual([
      [host.peerId, 'host'],
      [patient.peerId, 'guest'],
    ]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    const delivered = fake.webhookDeliveries.find((d) => d.type === 'peer.join.success')!;
    expect(events[1].occurredAt).toBe(new Date(Date.parse((delivered.envelope.data as { joined_at: string }).joined_at)).toISOString());
  });

  it('refuses a webhook without the secret header or with a forged one', async () => {
    const { fake, video, events, rejected } = await start({ webhook: { secret: 'forged-secret-value' } });
    const { roomId } = await video.createRoom({ name: 'appt-43', meetingId: 'm-43' });
    await fake.peerJoins(roomId, { userId: 'u', role: 'host' });
    fake.setWebhook({ url: harness!.receiver.url });
    await fake.peerLeaves(roomId, { userId: 'u' });

    expect(fake.webhookDeliveries.map((d) => d.status)).toEqual([401, 401, 401]);
    expect(events).toEqual([]);
    expect(rejected.every((e) => e instanceof WebhookAuthenticationError && e.status === 401)).toBe(true);
  });

  it('accepts the secret header in any letter case', async () => {
    const { video } = await start();
    const body = JSON.stringify(sampleLeave);
    await expect(video.parseWebhook({ headers: { 'X-Webhook-Secret': HOOK_SECRET }, rawBody: body })).resolves.toHaveLength(1);
  });

  it('checks the x-100ms-signature HMAC of the raw body when a signing secret is configured', async () => {
    const { fake, video, events, receiver } = await start({
      provider: { webhookSigningSecret: SIGNING_SECRET },
      webhook: { signingSecret: SIGNING_SECRET },
    });
    const { roomId } = await video.createRoom({ name: 'appt-44', meetingId: 'm-44' });
    await fake.peerJoins(roomId, { userId: 'u', role: 'host' });
    expect(fake.webhookDeliveries.map((d) => d.status)).toEqual([200, 200]);
    expect(events.map((e) => e.type)).toEqual(['unknown', 'peer.joined']);

    // Same secret header, body changed after signing.
    const good = receiver.received[1];
    const tampered = Buffer.from(good.rawBody.toString('utf8').replace('"u"', '"someone-else"'));
    await expect(video.parseWebhook({ headers: good.headers, rawBody: tampered })).rejects.toBeInstanceOf(WebhookAuthenticationError);

    // Signed with another key.
    fake.setWebhook({ url: receiver.url, secret: HOOK_SECRET, signingSecret: 'another-signing-secret-xyz' });
    await fake.peerLeaves(roomId, { userId: 'u' });
    expect(fake.webhookDeliveries.at(-1)?.status).toBe(401);

    // No signature at all.
    const { 'x-100ms-signature': _dropped, ...unsigned } = good.headers;
    await expect(video.parseWebhook({ headers: unsigned, rawBody: good.rawBody })).rejects.toBeInstanceOf(WebhookAuthenticationError);

    // Accepts the `sha256=` form of the same signature.
    const sig = createHmac('sha256', SIGNING_SECRET).update(good.rawBody).digest('hex');
    await expect(
      video.parseWebhook({ headers: { ...unsigned, 'x-100ms-signature': `sha256=${sig}` }, rawBody: good.rawBody }),
    ).resolves.toHaveLength(1);
  });

  it('answers 400 for an authenticated body that is not a 100ms event', async () => {
    const { video } = await start();
    const headers = { 'x-webhook-secret': HOOK_SECRET };
    await expect(video.parseWebhook({ headers, rawBody: 'not json' })).rejects.toMatchObject({ status: 400 });
    await expect(video.parseWebhook({ headers, rawBody: '{"type":"peer.join.success"}' })).rejects.toMatchObject({ status: 400 });
    await expect(
      video.parseWebhook({ headers, rawBody: JSON.stringify({ ...sampleLeave, data: { ...sampleLeave.data, room_id: undefined } }) }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

/** The `peer.leave.success` sample of 100ms's webhook reference, with values filled in. */
const sampleLeave = {
  version: '2.0',
  id: '6c75de35-b778-4fb0-88ae-114c28dc285f',
  account_id: '60b8e13a6eb86d8101b57354',
  timestamp: '2021-11-30T12:58:58Z',
  type: 'peer.leave.success',
  data: {
    duration: 40,
    joined_at: '2021-11-30T12:58:49.97291247Z',
    left_at: '2021-11-30T12:58:58.500451704Z',
    peer_id: '83b869e1-9a4b-4037-84b2-913cf76e4392',
    reason: 'client request',
    message: 'removed due to misconduct',
    role: 'guest',
    room_id: '60b8e13a6eb86d8101b57355',
    room_name: 'appt-1',
    session_id: '610f81ee870dde099a249948',
    template_id: '66112497abcd52312556c4gg',
    user_id: 'Patient/1',
    user_name: 'Ada',
    user_data: '',
    session_started_at: '2021-11-30T12:58:49.97291247Z',
  },
};

describe('100ms event mapping', () => {
  it('maps the documented peer.leave.success sample', () => {
    expect(mapHmsEvent(hmsWebhookSchema.parse(sampleLeave))).toEqual({
      provider: '100ms',
      eventId: '6c75de35-b778-4fb0-88ae-114c28dc285f',
      type: 'peer.left',
      roomId: '60b8e13a6eb86d8101b57355',
      sessionId: '610f81ee870dde099a249948',
      peerId: '83b869e1-9a4b-4037-84b2-913cf76e4392',
      userId: 'Patient/1',
      role: 'guest',
      occurredAt: '2021-11-30T12:58:58.500Z',
      reason: 'client request',
      rawType: 'peer.leave.success',
    });
  });

  it('maps session.close.success to its stop time and other types to unknown', () => {
    const close = {
      version: '2.0',
      id: 'e1',
      timestamp: '2021-11-30T12:58:49Z',
      type: 'session.close.success',
      data: { room_id: 'r1', session_id: 's1', session_duration: 600, session_stopped_at: '2021-11-30T12:58:49.97291247Z' },
    };
    expect(mapHmsEvent(hmsWebhookSchema.parse(close))).toMatchObject({ type: 'session.closed', occurredAt: '2021-11-30T12:58:49.972Z' });
    const beam = { ...close, id: 'e2', type: 'beam.started.success', data: { room_id: 'r1' } };
    expect(mapHmsEvent(hmsWebhookSchema.parse(beam))).toMatchObject({ type: 'unknown', rawType: 'beam.started.success', occurredAt: '2021-11-30T12:58:49.000Z' });
    const workspace = { ...close, id: 'e3', type: 'policy.update', data: {} };
    expect(mapHmsEvent(hmsWebhookSchema.parse(workspace))).toBeUndefined();
  });

  it('falls back to the envelope time when 100ms sends its zero time', () => {
    const failedLeave = { ...sampleLeave, data: { ...sampleLeave.data, left_at: '0001-01-01T00:00:00Z' } };
    expect(mapHmsEvent(hmsWebhookSchema.parse(failedLeave))?.occurredAt).toBe('2021-11-30T12:58:58.000Z');
  });
});
