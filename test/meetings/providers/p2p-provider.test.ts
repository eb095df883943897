import { describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createVideoProvider } from '../../../src/meetings/providers/factory.js';
import { P2P_TOKEN_AUDIENCE, P2P_TOKEN_ISSUER, verifyP2pJoinToken } from '../../../src/meetings/providers/p2p/provider.js';
import type { JoinCredentialsInput } from '../../../src/meetings/providers/types.js';
import { OperationOutcomeError } from '../../../src/fhir/outcomes.js';

const KEY = 'p2p-signing-key-for-tests-0123456789abcdef';

const join: JoinCredentialsInput = {
  roomId: 'p2p-m-1',
  meetingId: 'm-1',
  participantId: 'part-1',
  userId: 'Patient/1',
  role: 'patient',
  displayName: 'Ada',
  expiresAt: new Date(Date.now() + 5 * 60_000),
};

async function refusal(work: Promise<unknown>): Promise<OperationOutcomeError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OperationOutcomeError);
  expect((err as OperationOutcomeError).status).toBe(401);
  return err as OperationOutcomeError;
}

describe('p2p provider', () => {
  it('names rooms after the meeting without calling anything, so a retried create gives the same room', async () => {
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY });
    const a = await video.createRoom({ name: 'appt-1', meetingId: 'm-1' });
    const b = await video.createRoom({ name: 'appt-1', meetingId: 'm-1' });
    expect(a.roomId).toBe('p2p-m-1');
    expect(b.roomId).toBe(a.roomId);
  });

  it('issues a token bound to one meeting, room, participant and role that the signaling server accepts', async () => {
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY, signalingUrl: 'wss://example.test/signal' });
    const creds = await video.issueJoinCredentials(join);
    expect(creds).toMatchObject({ provider: 'p2p', roomId: 'p2p-m-1', participantId: 'part-1', role: 'patient', signalingUrl: 'wss://example.test/signal' });

    const claims = await verifyP2pJoinToken(creds.token, KEY, { roomId: 'p2p-m-1', meetingId: 'm-1' });
    expect(claims).toMatchObject({ participantId: 'part-1', roomId: 'p2p-m-1', meetingId: 'm-1', userId: 'Patient/1', role: 'patient', displayName: 'Ada' });
    expect(claims.expiresAt.toISOString()).toBe(creds.expiresAt);
  });

  it('caps the token lifetime', async () => {
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY, maxTokenTtlSeconds: 120 });
    const creds = await video.issueJoinCredentials({ ...join, expiresAt: new Date(Date.now() + 24 * 3_600_000) });
    expect(Date.parse(creds.expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it('refuses an expired token', async () => {
    const issuedAt = Date.now() - 3_600_000;
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY, now: () => issuedAt });
    const creds = await video.issueJoinCredentials({ ...join, expiresAt: new Date(issuedAt + 60_000) });
    await refusal(verifyP2pJoinToken(creds.token, KEY));
  });

  it('refuses a token signed with another key, for another audience, with another algorithm, or for another room', async () => {
    const other = createVideoProvider({ provider: 'p2p', signingKey: 'another-signing-key-0123456789abcdef' });
    await refusal(verifyP2pJoinToken((await other.issueJoinCredentials(join)).token, KEY));

    const claims = { room_id: 'p2p-m-1', meeting_id: 'm-1', user_id: 'Patient/1', role: 'patient', name: 'Ada' };
    const forge = (aud: string, alg: 'HS256' | 'HS512') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg })
        .setIssuer(P2P_TOKEN_ISSUER)
        .setAudience(aud)
        .setSubject('part-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti('j-1')
        .sign(new TextEncoder().encode(KEY));
    await expect(verifyP2pJoinToken(await forge(P2P_TOKEN_AUDIENCE, 'HS256'), KEY)).resolves.toMatchObject({ participantId: 'part-1' });
    await refusal(verifyP2pJoinToken(await forge('fhir-api', 'HS256'), KEY));
    await refusal(verifyP2pJoinToken(await forge(P2P_TOKEN_AUDIENCE, 'HS512'), KEY));

    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY });
    const token = (await video.issueJoinCredentials(join)).token;
    await refusal(verifyP2pJoinToken(token, KEY, { roomId: 'p2p-m-2' }));
    await refusal(verifyP2pJoinToken(token, KEY, { meetingId: 'm-2' }));
    await refusal(verifyP2pJoinToken(`${token.slice(0, -2)}xx`, KEY));
  });

  it('tells the signaling server when a room ends', async () => {
    const ended: unknown[] = [];
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY, onRoomEnded: (e) => void ended.push(e) });
    await expect(video.endRoom('p2p-m-1', { reason: 'Visit finished', lock: true })).resolves.toEqual({ alreadyEnded: false });
    expect(ended).toEqual([{ roomId: 'p2p-m-1', reason: 'Visit finished', lock: true }]);
  });

  it('does not take webhooks', async () => {
    const video = createVideoProvider({ provider: 'p2p', signingKey: KEY });
    await expect(video.parseWebhook({ headers: {}, rawBody: '{}' })).rejects.toMatchObject({ status: 400, outcome: { issue: [{ code: 'not-supported' }] } });
  });

  it('refuses a signing key shorter than 256 bits', () => {
    expect(() => createVideoProvider({ provider: 'p2p', signingKey: 'short' })).toThrow(OperationOutcomeError);
  });
});

describe('createVideoProvider', () => {
  const hms = {
    provider: '100ms' as const,
    accessKey: 'ak',
    appSecret: 'secret-0123456789abcdef0123456789',
    templateId: 't',
    webhookSecret: 'w',
  };

  it('builds a new provider object for every organisation configuration', () => {
    const a = createVideoProvider(hms);
    const b = createVideoProvider(hms);
    expect(a.name).toBe('100ms');
    expect(a).not.toBe(b);
    expect(createVideoProvider({ provider: 'p2p', signingKey: new Uint8Array(32) }).name).toBe('p2p');
  });

  it('refuses an incomplete 100ms configuration', () => {
    expect(() => createVideoProvider({ ...hms, webhookSecret: '' })).toThrow(/webhookSecret/);
    expect(() => createVideoProvider({ ...hms, appSecret: ' ' })).toThrow(/appSecret/);
  });
});
