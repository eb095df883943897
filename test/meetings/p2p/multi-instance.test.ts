import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBusHub, type SignalingBus } from '../../../src/meetings/p2p/bus.js';
import { createPostgresBus } from '../../../src/meetings/p2p/postgres-bus.js';
import { createRedisBus } from '../../../src/meetings/p2p/redis-bus.js';
import { CloseCode } from '../../../src/meetings/p2p/protocol.js';
import { createTestDatabase } from '../../support/db.js';
import { eventually, joinToken, redisChannelPrefix, sleep, startSignaling, TEST_REDIS_URL, TestClient, type SignalingInstance } from './support.js';

/**
 * Two signaling servers sharing one bus, as two server processes share one PostgreSQL (or one Redis):
 * participants on different instances still meet, and the workflow hears each presence transition once in total.
 */
type BusKind = 'in-process' | 'postgres' | 'redis';
const kinds: BusKind[] = process.env.TEST_DATABASE_URL ? ['in-process', 'postgres', 'redis'] : ['in-process', 'redis'];

describe.each(kinds)('p2p signaling across two instances (%s bus)', (kind) => {
  let a: SignalingInstance;
  let b: SignalingInstance;
  let busB: SignalingBus;
  let cleanup: (() => Promise<void>)[] = [];
  const clients: TestClient[] = [];

  beforeEach(async () => {
    let busA: SignalingBus;
    if (kind === 'postgres') {
      // A database of its own: NOTIFY is per database, so parallel test files never hear each other.
      const database = await createTestDatabase('postgres');
      busA = await createPostgresBus({ connectionString: database.url! });
      busB = await createPostgresBus({ connectionString: database.url! });
      cleanup.push(() => busA.close(), () => busB.close(), () => database.close());
    } else if (kind === 'redis') {
      // Channels of their own: pub/sub is global to a Redis server, and other test files use the same one.
      const channelPrefix = redisChannelPrefix();
      busA = await createRedisBus({ url: TEST_REDIS_URL, channelPrefix });
      busB = await createRedisBus({ url: TEST_REDIS_URL, channelPrefix });
      cleanup.push(() => busA.close(), () => busB.close());
    } else {
      const hub = new InProcessBusHub();
      busA = hub.endpoint();
      busB = hub.endpoint();
    }
    a = await startSignaling(busA, { instanceHeartbeatMs: 100 });
    b = await startSignaling(busB, { instanceHeartbeatMs: 100 });
    cleanup.unshift(() => a.close(), () => b.close());
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.terminate();
    for (const step of cleanup.splice(0)) await step().catch(() => undefined);
  });

  const join = async (on: SignalingInstance, meetingId: string, participantId: string, role: 'host' | 'patient' | 'guest') => {
    const c = await TestClient.join(on.url, await joinToken(meetingId, participantId, role));
    clients.push(c);
    return c;
  };
  const allPresence = () => [...a.presence, ...b.presence].sort((x, y) => x.occurredAt.localeCompare(y.occurredAt));

  it('admits a patient waiting on one instance when the host joins on the other, relays both ways, reports presence once', async () => {
    const patient = await join(b, 'm1', 'p1', 'patient');
    await patient.next('waiting');
    await eventually(() => expect(a.server.roomPresence('p2p-m1').waiting).toHaveLength(1));

    const host = await join(a, 'm1', 'h1', 'host');
    expect((await host.next('admitted')).peers).toEqual([]);
    expect((await patient.next('admitted')).peers.map((p) => p.peerId)).toEqual([host.peerId]);
    expect((await host.next('peer-joined')).peer.peerId).toBe(patient.peerId);

    // An SDP larger than one NOTIFY payload, with non-ASCII text in it.
    const sdp = `v=0\r\ns=Dr. Müller — 診察\r\n${'a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n'.repeat(400)}`;
    host.send({ type: 'signal', to: patient.peerId, data: { description: { type: 'offer', sdp } } });
    const offer = await patient.next('signal');
    expect(offer.from).toBe(host.peerId);
    expect(offer.data.description?.sdp).toBe(sdp);
    patient.send({ type: 'signal', to: host.peerId, data: { description: { type: 'answer', sdp: 'v=0 answer' } } });
    expect((await host.next('signal')).data.description).toEqual({ type: 'answer', sdp: 'v=0 answer' });

    await patient.close();
    await host.next('peer-left');
    await host.close();
    await eventually(() => expect(allPresence()).toHaveLength(5));
    await sleep(300);
    // Each once. Two instances stamp their own events, and events a millisecond apart can share a stamp, so the
    // order is checked as times that never go backwards rather than as a sort that breaks ties arbitrarily.
    const events = allPresence();
    const at = (key: string) => events.find((e) => `${e.type}:${e.userId ?? ''}` === key)!.occurredAt;
    expect(events.map((e) => `${e.type}:${e.userId ?? ''}`).sort()).toEqual(['peer.joined:h1', 'peer.joined:p1', 'peer.left:h1', 'peer.left:p1', 'session.closed:']);
    expect(at('peer.joined:h1') <= at('peer.joined:p1')).toBe(true);
    expect(at('peer.joined:p1') <= at('peer.left:p1')).toBe(true);
    expect(at('peer.left:p1') <= at('peer.left:h1')).toBe(true);
    expect(at('peer.left:h1') <= at('session.closed:')).toBe(true);
    // Each reported by the instance holding that connection.
    expect(a.presence.map((e) => e.type)).toEqual(['peer.joined', 'peer.left', 'session.closed']);
    expect(b.presence.map((e) => e.type)).toEqual(['peer.joined', 'peer.left']);
  });

  it('never relays between meetings, whichever instance holds whom', async () => {
    const host1 = await join(a, 'm1', 'h1', 'host');
    const patient1 = await join(b, 'm1', 'p1', 'patient');
    const host2 = await join(b, 'm2', 'h2', 'host');
    const patient2 = await join(a, 'm2', 'p2', 'patient');
    await patient1.next('admitted');
    await patient2.next('admitted');
    // As a browser does, each host signals a peer once its own instance has told it of that peer: the other
    // instance admits first, and the log entry reaches this one a moment later.
    expect((await host1.next('peer-joined')).peer.peerId).toBe(patient1.peerId);
    expect((await host2.next('peer-joined')).peer.peerId).toBe(patient2.peerId);

    // A peer of another meeting is unknown here, on this instance as on the other.
    host1.send({ type: 'signal', to: patient2.peerId, data: { description: { type: 'offer', sdp: 'v=0 wrong meeting' } } });
    host1.send({ type: 'signal', to: host2.peerId, data: { description: { type: 'offer', sdp: 'v=0 wrong meeting' } } });
    expect((await host1.next('error')).code).toBe('unknown-peer');
    expect((await host1.next('error')).code).toBe('unknown-peer');
    // Each meeting's own traffic still flows across the instances.
    host1.send({ type: 'signal', to: patient1.peerId, data: { description: { type: 'offer', sdp: 'v=0 m1' } } });
    host2.send({ type: 'signal', to: patient2.peerId, data: { description: { type: 'offer', sdp: 'v=0 m2' } } });
    expect((await patient1.next('signal')).data.description?.sdp).toBe('v=0 m1');
    expect((await patient2.next('signal')).data.description?.sdp).toBe('v=0 m2');
    await sleep(200);
    expect(patient1.of('signal')).toHaveLength(1);
    expect(patient2.of('signal')).toHaveLength(1);
    expect(host2.of('signal')).toHaveLength(0);
  });

  it('ends the meeting everywhere: sockets on the other instance are closed and it refuses new joins too', async () => {
    const host = await join(a, 'm1', 'h1', 'host');
    const patient = await join(b, 'm1', 'p1', 'patient');
    await patient.next('admitted');
    await a.server.endRoom('p2p-m1', 'ended by host');
    expect((await patient.closed).code).toBe(CloseCode.MEETING_ENDED);
    expect((await host.closed).code).toBe(CloseCode.MEETING_ENDED);
    const late = await TestClient.open(b.url, { token: await joinToken('m1', 'g1', 'guest') });
    expect((await late.closed).code).toBe(CloseCode.MEETING_ENDED);
    await eventually(() => expect(allPresence().map((e) => e.type).sort()).toEqual(['peer.joined', 'peer.joined', 'peer.left', 'peer.left', 'session.closed']));
  });

  it('removes a participant held by the other instance; the removed credentials are refused on both', async () => {
    const host = await join(a, 'm1', 'h1', 'host');
    const token = await joinToken('m1', 'p1', 'patient');
    const patient = await TestClient.join(b.url, token);
    clients.push(patient);
    await patient.next('admitted');
    host.send({ type: 'remove', participantId: 'p1' });
    expect((await patient.closed).code).toBe(CloseCode.REMOVED);
    for (const instance of [a, b]) {
      const again = await TestClient.open(instance.url, { token });
      expect((await again.closed).code).toBe(CloseCode.REMOVED);
    }
    await eventually(() => expect(allPresence().filter((e) => e.type === 'peer.left').map((e) => e.userId)).toEqual(['p1']));
  });

  it('when an instance stops answering, the other reports its participants gone, once', async () => {
    const host = await join(a, 'm1', 'h1', 'host');
    const patient = await join(b, 'm1', 'p1', 'patient');
    await patient.next('admitted');
    await host.next('peer-joined');
    // Instance B loses its bus connection for good (a crashed process, as far as A can tell).
    await busB.close();
    expect(await host.next('peer-left', 3_000)).toMatchObject({ participantId: 'p1', reason: 'connection lost' });
    await eventually(() => expect(a.presence.map((e) => `${e.type}:${e.userId ?? ''}`)).toEqual(['peer.joined:h1', 'peer.left:p1']));
    expect(b.presence.map((e) => e.type)).toEqual(['peer.joined']);
  });
});
