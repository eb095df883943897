import { createClient } from 'redis';
import { newInstanceId, type BusMessage, type SignalingBus } from './bus.js';

/**
 * The bus between server instances through Redis pub/sub, for installations that set REDIS_URL. Redis runs
 * commands one at a time and writes each PUBLISH to every subscriber as it runs it, so all instances see one
 * global order, their own messages included — the property the shared room log needs. Each instance
 * publishes on one connection and listens on another (a subscribed Redis connection takes no other command).
 *
 * Pub/sub channels are global to a Redis server (the selected database does not apply), so the channel
 * prefix is what keeps two installations sharing one Redis apart.
 */

const DEFAULT_CHANNEL_PREFIX = 'p2p_signaling';
const CONNECT_TIMEOUT_MS = 5_000;
const RECONNECT_DELAY_MS = [100, 500, 1_000, 2_000, 5_000];

export interface RedisBusOptions {
  url: string;
  instanceId?: string;
  /** Channels are `<prefix>` (everyone) and `<prefix>:<instanceId>`. */
  channelPrefix?: string;
  onError?: (err: unknown) => void;
}

/** The URL without its password, for error messages and logs. */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured REDIS_URL';
  }
}

export async function createRedisBus(options: RedisBusOptions): Promise<SignalingBus> {
  const instanceId = options.instanceId ?? newInstanceId();
  if (!/^[0-9a-z_]{1,40}$/.test(instanceId)) throw new Error('instanceId must be lowercase letters, digits or _');
  const prefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
  const broadcastChannel = prefix;
  const instanceChannel = (id: string) => `${prefix}:${id}`;
  const handlers = new Set<(message: BusMessage) => void>();
  const resetHandlers = new Set<() => void>();
  let closed = false;

  // The first connection must succeed or the server does not start; once connected, a lost connection is
  // retried for as long as the server runs.
  let started = false;
  const publisher = createClient({
    url: options.url,
    // Shown by CLIENT LIST, so an operator can tell which server instance a connection belongs to.
    name: `p2p_signaling_${instanceId}`,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries, cause) => (started ? RECONNECT_DELAY_MS[Math.min(retries, RECONNECT_DELAY_MS.length - 1)] : cause),
    },
  });
  const subscriber = publisher.duplicate();
  for (const client of [publisher, subscriber]) client.on('error', (err: unknown) => started && options.onError?.(err));

  const deliver = (raw: string) => {
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch (err) {
      return options.onError?.(err);
    }
    for (const h of handlers) {
      try {
        h(message);
      } catch (err) {
        options.onError?.(err);
      }
    }
  };

  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    // Resolves once Redis confirmed the subscriptions: from here on nothing published is missed.
    await subscriber.subscribe([broadcastChannel, instanceChannel(instanceId)], deliver);
  } catch (err) {
    publisher.destroy();
    subscriber.destroy();
    throw new Error(`signaling bus: cannot reach Redis at ${displayUrl(options.url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  started = true;
  // The client subscribes again by itself after a reconnect; what was published meanwhile is lost, and the
  // server resynchronises on reset.
  subscriber.on('ready', () => {
    if (!closed) for (const h of resetHandlers) h();
  });

  return {
    instanceId,
    async publish(message, to) {
      if (closed) throw new Error('signaling bus is closed');
      await publisher.publish(to === undefined ? broadcastChannel : instanceChannel(to), JSON.stringify(message));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    onReset(handler) {
      resetHandlers.add(handler);
      return () => resetHandlers.delete(handler);
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([subscriber.close(), publisher.close()].map((p) => p.catch(() => undefined)));
    },
  };
}
