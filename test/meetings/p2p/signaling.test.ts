import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { InProcessBusHub } from '../../../src/meetings/p2p/bus.js';
import { CloseCode } from '../../../src/meetings/p2p/protocol.js';
import { P2P_TOKEN_AUDIENCE, P2P_TOKEN_ISSUER } from '../../../src/meetings/providers/p2p/provider.js';
import { eventually, joinToken, sleep, startSignaling, TestClient, type SignalingInstance } from './support.js';

/**
 * The signaling server's story on one instance: who may connect, who may talk to whom, the lobby, removal,
 * the end of a meeting, and the presence events the meetings workflow receives.
 */
describe('p2p signaling server', () => {
  let sig: SignalingInstance;
  const clients: TestClient[] = [];
  const join = async (meetingId: string, participantId: string, role: 'host' | 'patient' | 'guest') => {
    const c = await TestClient.join(sig.url, await joinToken(meetingId, participantId, role));
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    sig = await startSignaling(new InProcessBusHub().endpoint(), { authTimeoutMs: 300, heartbeatIntervalMs: 200 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.terminate();
    await sig.close();
  });

  describe('refuses before relaying anything', () => {
    it('a forged token (signed with another key)', async () => {
      const forged = await new SignJWT({ room_id: 'p2p-m1', meeting_id: 'm1', user_id: 'u', role: 'host', name: 'Mallory' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(P2P_TOKEN_ISSUER)
        .setAudience(P2P_TOKEN_AUDIENCE)
        .setSubject('p1')
        .setJti('j1')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('some-other-key-that-is-long-enough-0123'));
      const c = await TestClient.open(sig.url, { token: forged });
      expect(await c.closed).toEqual({ code: CloseCode.UNAUTHORIZED, reason: 'Invalid or expired join token' });
      expect(c.received).toEqual([]);
    });

    it('an expired token, also when given in the query string', async () => {
      const token = await joinToken('m1', 'p1', 'host', 1_000);
      await sleep(1_100);
      const c = await TestClient.open(sig.url, { token, inQuery: true });
      expect((await c.closed).code).toBe(CloseCode.UNAUTHORIZED);
      expect(c.received).toEqual([]);
    });

    it('a socket that sends something else first, or nothing at all', async () => {
      const chatty = await TestClient.open(sig.url);
      chatty.send({ type: 'signal', to: 'x', data: { media: { audio: true, video: true } } });
      expect((await chatty.closed).code).toBe(CloseCode.UNAUTHORIZED);
      const silent = await TestClient.open(sig.url);
      expect(await silent.closed).toEqual({ code: CloseCode.AUTH_TIMEOUT, reason: 'no join token received' });
      const garbage = await TestClient.open(sig.url);
      garbage.socket.send('not json');
      expect((await garbage.closed).code).toBe(CloseCode.PROTOCOL_ERROR);
    });
  });

  it('welcomes with the ICE servers and relays only between admitted peers of the same meeting', async () => {
    const hostA = await join('mA', 'hA', 'host');
    expect(hostA.received[0]).toMatchObject({ type: 'welcome', roomId: 'p2p-mA', meetingId: 'mA', iceServers: [{ urls: 'stun:stun.example.test:3478' }] });
    await hostA.next('admitted');
    const patientA = await join('mA', 'pA', 'patient');
    expect((await patientA.next('admitted')).peers.map((p) => p.peerId)).toEqual([hostA.peerId]);
    const hostB = await join('mB', 'hB', 'host');
    const patientB = await join('mB', 'pB', 'patient');
    await patientB.next('admitted');

    hostA.send({ type: 'signal', to: patientA.peerId, data: { description: { type: 'offer', sdp: 'v=0 A' }, extra: 'dropped' } });
    expect(await patientA.next('signal')).toEqual({ type: 'signal', from: hostA.peerId, data: { description: { type: 'offer', sdp: 'v=0 A' } } });
    patientA.send({ type: 'signal', to: hostA.peerId, data: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0' } } });
    expect((await hostA.next('signal')).data.candidate?.candidate).toContain('candidate:1');

    // Another meeting's peer id is simply unknown here.
    hostA.send({ type: 'signal', to: patientB.peerId, data: { description: { type: 'offer', sdp: 'v=0 leak' } } });
    expect(await hostA.next('error')).toMatchObject({ code: 'unknown-peer' });
    await sleep(100);
    expect(patientB.of('signal')).toEqual([]);
    expect(hostB.of('signal')).toEqual([]);
  });

  it('holds patients and guests in the lobby until the host arrives, then connects everyone', async () => {
    const patient = await join('m1', 'p1', 'patient');
    await patient.next('waiting');
    const guest = await join('m1', 'g1', 'guest');
    await guest.next('waiting');
    // Nobody to talk to, and nothing for the workflow yet: waiting is not being in the call.
    patient.send({ type: 'signal', to: guest.peerId, data: { media: { audio: true, video: true } } });
    expect(await patient.next('error')).toMatchObject({ code: 'not-admitted' });
    await sleep(50);
    expect(sig.server.roomPresence('p2p-m1').waiting.map((p) => p.participantId).sort()).toEqual(['g1', 'p1']);
    expect(sig.presence).toEqual([]);

    const host = await join('m1', 'h1', 'host');
    expect((await host.next('admitted')).peers).toEqual([]);
    expect((await patient.next('admitted')).peers.map((p) => p.participantId)).toEqual(['h1']);
    expect((await guest.next('admitted')).peers.map((p) => p.participantId).sort()).toEqual(['h1', 'p1']);
    await eventually(() => expect(host.of('peer-joined').map((m) => m.peer.participantId)).toEqual(['p1', 'g1']));
    expect(host.of('lobby').at(-1)).toEqual({ type: 'lobby', waiting: [] });
    await eventually(() => expect(sig.presence.map((e) => `${e.type}:${e.userId}`)).toEqual(['peer.joined:h1', 'peer.joined:p1', 'peer.joined:g1']));

    // Someone arriving while the host is there goes straight in.
    const late = await join('m1', 'g2', 'guest');
    expect((await late.next('admitted')).peers).toHaveLength(3);
    expect(late.of('waiting')).toEqual([]);
  });

  it('with admission by the host, tells the host who is waiting and lets in only whom the host admits', async () => {
    await sig.close();
    sig = await startSignaling(new InProcessBusHub().endpoint(), { admission: 'host' });
    const patient = await join('m1', 'p1', 'patient');
    await patient.next('waiting');
    const host = await join('m1', 'h1', 'host');
    await host.next('admitted');
    expect(await host.next('lobby')).toMatchObject({ waiting: [{ participantId: 'p1', role: 'patient' }] });
    const guest = await join('m1', 'g1', 'guest');
    await guest.next('waiting');
    expect((await host.next('lobby')).waiting.map((p) => p.participantId)).toEqual(['p1', 'g1']);

    patient.send({ type: 'admit', participantId: 'g1' });
    expect(await patient.next('error')).toMatchObject({ code: 'forbidden' });
    host.send({ type: 'admit', participantId: 'p1' });
    expect((await patient.next('admitted')).peers.map((p) => p.participantId)).toEqual(['h1']);
    expect((await host.next('lobby')).waiting.map((p) => p.participantId)).toEqual(['g1']);
    await sleep(50);
    expect(guest.of('admitted')).toEqual([]);
  });

  it('reports presence once per transition: joined, left, and the session closed when the last one leaves', async () => {
    const host = await join('m1', 'h1', 'host');
    const patient = await join('m1', 'p1', 'patient');
    await patient.next('admitted');
    await patient.close();
    await host.next('peer-left');
    await host.close();
    await eventually(() => expect(sig.presence).toHaveLength(5));
    await sleep(100);
    expect(sig.presence.map((e) => [e.type, e.userId, e.role, e.reason])).toEqual([
      ['peer.joined', 'h1', 'host', undefined],
      ['peer.joined', 'p1', 'patient', undefined],
      ['peer.left', 'p1', 'patient', 'left'],
      ['peer.left', 'h1', 'host', 'left'],
      ['session.closed', undefined, undefined, 'left'],
    ]);
    expect(new Set(sig.presence.map((e) => e.eventId)).size).toBe(5);
    expect(sig.presence.every((e) => e.provider === 'p2p' && e.roomId === 'p2p-m1')).toBe(true);
    expect(sig.presence[1]).toMatchObject({ participantId: 'p1', meetingId: 'm1', sessionId: host.peerId });
    expect(sig.presence[4]).toMatchObject({ sessionId: host.peerId });
  });

  it('notices a peer that stopped answering pings', async () => {
    const host = await join('m1', 'h1', 'host');
    const patient = await TestClient.join(sig.url, await joinToken('m1', 'p1', 'patient'));
    clients.push(patient);
    await patient.next('admitted');
    // The browser vanished (laptop lid closed): no pongs, no close frame.
    patient.socket.pause();
    (patient.socket as unknown as { _receiver: { removeAllListeners(e: string): void } })._receiver.removeAllListeners('ping');
    expect((await host.next('peer-left', 3_000)).reason).toBe('heartbeat timeout');
    await eventually(() => expect(sig.presence.map((e) => `${e.type}:${e.userId}:${e.reason ?? ''}`)).toContain('peer.left:p1:heartbeat timeout'));
  });

  it('lets the host remove a participant, who cannot come back with the same credentials', async () => {
    const host = await join('m1', 'h1', 'host');
    const token = await joinToken('m1', 'p1', 'patient');
    const patient = await TestClient.join(sig.url, token);
    await patient.next('admitted');

    patient.send({ type: 'remove', participantId: 'h1' });
    expect(await patient.next('error')).toMatchObject({ code: 'forbidden' });

    host.send({ type: 'remove', participantId: 'p1' });
    expect(await patient.closed).toEqual({ code: CloseCode.REMOVED, reason: 'removed from this meeting by the host' });
    expect(await host.next('peer-left')).toMatchObject({ participantId: 'p1', reason: 'removed by the host' });

    const again = await TestClient.open(sig.url, { token });
    expect((await again.closed).code).toBe(CloseCode.REMOVED);
    const sameParticipantNewToken = await TestClient.open(sig.url, { token: await joinToken('m1', 'p1', 'patient') });
    expect((await sameParticipantNewToken.closed).code).toBe(CloseCode.REMOVED);
    await eventually(() => expect(sig.presence.filter((e) => e.type === 'peer.left').map((e) => e.reason)).toEqual(['removed by the host']));
  });

  it('keeps one connection per participant: a second one replaces the first', async () => {
    const host = await join('m1', 'h1', 'host');
    const first = await join('m1', 'p1', 'patient');
    await first.next('admitted');
    const second = await join('m1', 'p1', 'patient');
    await second.next('admitted');
    expect((await first.closed).code).toBe(CloseCode.REPLACED);
    expect(await host.next('peer-left')).toMatchObject({ peerId: first.peerId });
    await eventually(() =>
      expect(sig.presence.map((e) => `${e.type}:${e.peerId}`)).toEqual([
        `peer.joined:${host.peerId}`,
        `peer.joined:${first.peerId}`,
        `peer.left:${first.peerId}`,
        `peer.joined:${second.peerId}`,
      ]),
    );
  });

  it('when the meeting ends, closes every socket (lobby included) and refuses new joins', async () => {
    const host = await join('m1', 'h1', 'host');
    const patient = await join('m1', 'p1', 'patient');
    await patient.next('admitted');
    const waitingElsewhere = await join('m2', 'p2', 'patient');
    await waitingElsewhere.next('waiting');

    await sig.server.onRoomEnded({ roomId: 'p2p-m1', reason: 'ended by host', lock: true });
    for (const c of [host, patient]) expect(await c.closed).toEqual({ code: CloseCode.MEETING_ENDED, reason: 'meeting ended: ended by host' });
    const late = await TestClient.open(sig.url, { token: await joinToken('m1', 'g1', 'guest') });
    expect((await late.closed).code).toBe(CloseCode.MEETING_ENDED);
    expect(late.received).toEqual([]);

    await eventually(() => expect(sig.presence.map((e) => e.type)).toEqual(['peer.joined', 'peer.joined', 'peer.left', 'peer.left', 'session.closed']));
    expect(waitingElsewhere.socket.readyState).toBe(waitingElsewhere.socket.OPEN);
    expect(sig.server.roomPresence('p2p-m1')).toEqual({ admitted: [], waiting: [], ended: true });
  });

  it('closes with 1001 on shutdown and still reports the departures', async () => {
    const host = await join('m1', 'h1', 'host');
    await host.next('admitted');
    await sig.close();
    expect((await host.closed).code).toBe(CloseCode.SERVER_GOING_AWAY);
    expect(sig.presence.map((e) => `${e.type}:${e.reason}`)).toEqual(['peer.joined:undefined', 'peer.left:server shutting down', 'session.closed:server shutting down']);
  });
});
