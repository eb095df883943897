import { createInProcessBus, type SignalingBus } from './bus.js';
import { createPostgresBus } from './postgres-bus.js';
import { createRedisBus } from './redis-bus.js';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from './signaling-server.js';

export { signalingRoutes, type SignalingRoutesOptions } from './plugin.js';
export { createSignalingServer, type SignalingServer, type SignalingServerOptions, type RoomPresence } from './signaling-server.js';
export { InProcessBusHub, createInProcessBus, type SignalingBus } from './bus.js';
export { createPostgresBus } from './postgres-bus.js';
export { createRedisBus } from './redis-bus.js';
export type { P2pProviderEvent } from './room-state.js';
export * from './protocol.js';

export interface P2pSignaling {
  server: SignalingServer;
  bus: SignalingBus;
  /** Closes the server (sockets, presence) and then the bus. */
  close(): Promise<void>;
}

/**
 * The signaling server with the bus between instances that the installation has: Redis pub/sub when a Redis
 * URL is given, otherwise LISTEN/NOTIFY on PostgreSQL, where several instances may share the load, or memory
 * on PGlite, which only ever has one process.
 */
export async function createP2pSignaling(
  options: Omit<SignalingServerOptions, 'bus'> & { databaseUrl?: string; redisUrl?: string },
): Promise<P2pSignaling> {
  const { databaseUrl, redisUrl, ...serverOptions } = options;
  const onError = (err: unknown) => options.logger?.error({ err }, 'signaling bus error');
  const bus = redisUrl
    ? await createRedisBus({ url: redisUrl, onError })
    : databaseUrl
      ? await createPostgresBus({ connectionString: databaseUrl, onError })
      : createInProcessBus();
  const server = createSignalingServer({ ...serverOptions, bus });
  return {
    server,
    bus,
    close: async () => {
      await server.close();
      await bus.close();
    },
  };
}
