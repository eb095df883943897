import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import type { BusMessage, SignalingBus } from '../../../src/meetings/p2p/bus.js';
import { createRedisBus } from '../../../src/meetings/p2p/redis-bus.js';
import { eventually, redisChannelPrefix, TEST_REDIS_URL } from './support.js';

/**
 * The Redis relay between server instances, against the machine's real Redis: one order for everyone, messages
 * for one instance reach only it, installations with their own channels never hear each other, a lost
 * connection is reported as a reset once it is back, and an unreachable Redis stops the start with a clear error.
 */

const alive = (origin: string): BusMessage => ({ kind: 'alive', origin });

describe('Redis signaling bus', () => {
  const buses: SignalingBus[] = [];
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
  });

  const open = async (channelPrefix: string, instanceId?: string) => {
    const bus = await createRedisBus({ url: TEST_REDIS_URL, channelPrefix, instanceId });
    buses.push(bus);
    const received: BusMessage[] = [];
    bus.subscribe((m) => received.push(m));
    return { bus, received };
  };

  it('delivers every message to every instance, its own included, in one order', async () => {
    const prefix = redisChannelPrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const from = i % 2 === 0 ? a.bus : b.bus;
      sent.push(from.publish({ kind: 'sync-request', origin: `${from.instanceId}-${i}` }));
    }
    await Promise.all(sent);
    await eventually(() => {
      expect(a.received).toHaveLength(50);
      expect(b.received).toHaveLength(50);
    });
    expect(b.received).toEqual(a.received);
    // Each instance's own messages keep the order it sent them in.
    const fromA = a.received.map((m) => m.origin).filter((o) => o.startsWith(a.bus.instanceId));
    expect(fromA).toEqual(Array.from({ length: 25 }, (_, i) => `${a.bus.instanceId}-${i * 2}`));
  });

  it('sends a message addressed to one instance to that instance only', async () => {
    const prefix = redisChannelPrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const c = await open(prefix);
    await a.bus.publish(alive('to-b'), b.bus.instanceId);
    await a.bus.publish(alive('to-all'));
    await eventually(() => expect(c.received.map((m) => m.origin)).toEqual(['to-all']));
    expect(b.received.map((m) => m.origin)).toEqual(['to-b', 'to-all']);
    expect(a.received.map((m) => m.origin)).toEqual(['to-all']);
  });

  it('keeps installations with different channels apart on one Redis', async () => {
    const mine = await open(redisChannelPrefix(), 'same_id');
    const theirs = await open(redisChannelPrefix(), 'same_id');
    await theirs.bus.publish(alive('theirs'));
    await theirs.bus.publish(alive('theirs, to same_id'), 'same_id');
    await mine.bus.publish(alive('mine'));
    await eventually(() => expect(mine.received.map((m) => m.origin)).toEqual(['mine']));
    expect(theirs.received.map((m) => m.origin)).toEqual(['theirs', 'theirs, to same_id']);
  });

  it('reports a reset after its connection was cut, and delivers again', async () => {
    const prefix = redisChannelPrefix();
    const a = await open(prefix, `cut_${Date.now().toString(36)}`);
    const b = await open(prefix);
    let resets = 0;
    a.bus.onReset(() => resets++);

    // Cut the listening connection of A the way a network failure or a Redis restart would.
    const admin = createClient({ url: TEST_REDIS_URL });
    await admin.connect();
    try {
      const clients = (await admin.clientList()).filter((c) => c.name === `p2p_signaling_${a.bus.instanceId}` && c.flags.includes('P'));
      expect(clients).toHaveLength(1);
      await admin.clientKill({ filter: 'ID', id: Number(clients[0].id) });
    } finally {
      await admin.close();
    }
    await eventually(() => expect(resets).toBe(1), 10_000);

    await b.bus.publish(alive('after the cut'));
    await eventually(() => expect(a.received.map((m) => m.origin)).toContain('after the cut'));
  });

  it('refuses to start, saying so, when Redis cannot be reached', async () => {
    const started = Date.now();
    await expect(createRedisBus({ url: 'redis://:secret@127.0.0.1:1' })).rejects.toThrow(
      /^signaling bus: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
