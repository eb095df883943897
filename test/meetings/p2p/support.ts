import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { P2pVideoProvider } from '../../../src/meetings/providers/p2p/provider.js';
import type { ParticipantRole, ProviderEvent } from '../../../src/meetings/providers/types.js';
import { signalingRoutes } from '../../../src/meetings/p2p/plugin.js';
import type { SignalingBus } from '../../../src/meetings/p2p/bus.js';
import { SIGNALING_PATH, type ClientMessage, type ServerMessage } from '../../../src/meetings/p2p/protocol.js';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from '../../../src/meetings/p2p/signaling-server.js';

export const SIGNING_KEY = 'p2p-signaling-test-key-0123456789abcdef';

/** The Redis the tests relay through (the machine's own, as in CI). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Channels no other test uses: Redis pub/sub is global to the server. */
export function redisChannelPrefix(): string {
  return `p2p_test_${randomBytes(6).toString('hex')}`;
}

/** One signaling server on its own Fastify instance and port, as one server process of the product would run it. */
export interface SignalingInstance {
  app: FastifyInstance;
  server: SignalingServer;
  url: string;
  presence: ProviderEvent[];
  close(): Promise<void>;
}

export async function startSignaling(
  bus: SignalingBus,
  options: Partial<Omit<SignalingServerOptions, 'bus' | 'onPresence'>> = {},
  /** Extra routes on the same origin (the browser test serves its page here). */
  routes?: (app: FastifyInstance) => void,
): Promise<SignalingInstance> {
  const presence: ProviderEvent[] = [];
  const server = createSignalingServer({
    signingKey: SIGNING_KEY,
    iceServers: [{ urls: 'stun:stun.example.test:3478' }],
    ...options,
    bus,
    onPresence: async (events) => void presence.push(...events),
  });
  const app = Fastify();
  await app.register(signalingRoutes, { signaling: server });
  routes?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { app, server, url: `ws://127.0.0.1:${port}${SIGNALING_PATH}`, presence, close: () => app.close() };
}

const provider = new P2pVideoProvider({ provider: 'p2p', signingKey: SIGNING_KEY });

export async function joinToken(meetingId: string, participantId: string, role: ParticipantRole, ttlMs = 5 * 60_000): Promise<string> {
  const creds = await provider.issueJoinCredentials({
    roomId: `p2p-${meetingId}`,
    meetingId,
    participantId,
    userId: participantId,
    role,
    displayName: `${role} ${participantId}`,
    expiresAt: new Date(Date.now() + ttlMs),
  });
  return creds.token;
}

/** A ws client that records everything and lets a test wait for what it expects. */
export class TestClient {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void; from: number }[] = [];
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as ServerMessage;
      this.received.push(m);
      this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(m), false) : true));
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, auth?: { token?: string; inQuery?: boolean }, wsOptions: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const full = auth?.token && auth.inQuery ? `${url}?token=${encodeURIComponent(auth.token)}` : url;
    const socket = new WebSocket(full, wsOptions);
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    if (auth?.token && !auth.inQuery) client.send({ type: 'auth', token: auth.token });
    return client;
  }

  /** Opens, authenticates and waits for the welcome. */
  static async join(url: string, token: string): Promise<TestClient & { peerId: string }> {
    const client = await TestClient.open(url, { token });
    const welcome = await client.next('welcome');
    return Object.assign(client, { peerId: welcome.self.peerId });
  }

  send(message: ClientMessage | Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** The next message of that type not yet consumed by an earlier next() (searching what already arrived). */
  next<T extends ServerMessage['type']>(type: T, timeoutMs = 5_000): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (m: ServerMessage) => m.type === type;
    const idx = this.received.findIndex((m, i) => i >= (this.cursor.get(type) ?? 0) && match(m));
    if (idx >= 0) {
      this.cursor.set(type, idx + 1);
      return Promise.resolve(this.received[idx] as Extract<ServerMessage, { type: T }>);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`)), timeoutMs);
      this.waiters.push({
        match,
        from: this.received.length,
        resolve: (m) => {
          clearTimeout(timer);
          this.cursor.set(type, this.received.length);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      });
    });
  }
  private readonly cursor = new Map<string, number>();

  of<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }>[] {
    return this.received.filter((m) => m.type === type) as Extract<ServerMessage, { type: T }>[];
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close(1000);
    return this.closed;
  }
}

export async function eventually(check: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
