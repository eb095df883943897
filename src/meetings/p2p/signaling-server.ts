import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { OperationOutcomeError } from '../../fhir/outcomes.js';
import { verifyP2pJoinToken, type P2pJoinClaims } from '../providers/p2p/provider.js';
import type { ProviderEvent } from '../providers/types.js';
import type { BusMessage, SignalingBus } from './bus.js';
import { parseClientMessage } from './messages.js';
import { CloseCode, type ClientMessage, type IceServerConfig, type PeerInfo, type ServerMessage } from './protocol.js';
import { peerInfo, RoomRegistry, type AdmissionMode, type Effect, type LogEntry, type Member, type P2pProviderEvent } from './room-state.js';

/**
 * The signaling server of the built-in peer-to-peer provider. It authenticates each socket with the join
 * token the meetings workflow issued, keeps people of one meeting together (lobby until a host is present),
 * relays offers, answers and ICE candidates between them and nobody else, and turns arrivals and departures
 * into the same ProviderEvents the 100ms webhooks produce.
 *
 * Media never passes through here: browsers connect to each other (or through a TURN relay).
 */

export interface SignalingLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SignalingServerOptions {
  signingKey: Uint8Array | string;
  /** Sent to every browser on connect. */
  iceServers?: IceServerConfig[];
  /**
   * Receives presence in the provider-neutral form, in order, each transition exactly once across all
   * instances (event ids are stable, so a consumer that deduplicates is safe even after a retry).
   */
  onPresence(events: ProviderEvent[]): Promise<void>;
  bus: SignalingBus;
  /** A last check at connect (e.g. the meeting is still open). Throw an OperationOutcomeError to refuse: 410 → ended. */
  authorizeJoin?(claims: P2pJoinClaims): Promise<void>;
  /** `auto` (default): the lobby opens when a host is in the call. `host`: the host admits each person. */
  admission?: AdmissionMode;
  /** How often sockets are pinged; one missed pong closes the socket. */
  heartbeatIntervalMs?: number;
  /** How long a socket may stay open without presenting a token. */
  authTimeoutMs?: number;
  /** How often this instance tells the others it is alive; three missed beats and its sessions are dropped. */
  instanceHeartbeatMs?: number;
  logger?: SignalingLogger;
}

export interface RoomPresence {
  admitted: PeerInfo[];
  waiting: PeerInfo[];
  ended: boolean;
}

export interface SignalingServer {
  readonly instanceId: string;
  /** Subscribes to the bus and asks running instances for their state. */
  ready(): Promise<void>;
  /** Takes over an accepted WebSocket; `url` is the request URL (it may carry `?token=`). */
  handleConnection(socket: WebSocket, url?: string): void;
  /** Closes every socket of the room, on every instance, and refuses new joins. */
  endRoom(roomId: string, reason?: string): Promise<void>;
  /** The p2p provider's `onRoomEnded` hook. */
  onRoomEnded(event: { roomId: string; reason: string; lock?: boolean }): Promise<void>;
  /** Who is in the call and who waits, as all instances see it. */
  roomPresence(roomId: string): RoomPresence;
  /** Resolves once every presence event reported so far has been handed to onPresence. */
  flushPresence(): Promise<void>;
  /** Closes this instance's sockets (1001: reconnect elsewhere), reports their departure, stops timers. */
  close(): Promise<void>;
}

interface Connection {
  socket: WebSocket;
  member?: Member;
  awaitingPong: boolean;
  /** Why the server closed it, when it did; otherwise derived from the close code. */
  leaveReason?: string;
  /** The room log no longer holds this connection (removed, replaced, ended): nothing to announce on close. */
  dropped: boolean;
}

const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export function createSignalingServer(options: SignalingServerOptions): SignalingServer {
  const { bus } = options;
  const self = bus.instanceId;
  const iceServers = options.iceServers ?? [];
  const heartbeatMs = options.heartbeatIntervalMs ?? 15_000;
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  const instanceBeatMs = options.instanceHeartbeatMs ?? 5_000;
  const log = options.logger;
  const registry = new RoomRegistry(options.admission ?? 'auto');
  const connections = new Map<string, Connection>();
  const lastSeen = new Map<string, number>();
  const reportedGone = new Set<string>();
  const startedAt = Date.now();
  let presenceChain: Promise<void> = Promise.resolve();
  let closing = false;
  let unsubscribe: (() => void) | undefined;
  let unsubscribeReset: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];

  const send = (socket: WebSocket, message: ServerMessage) => {
    sendRaw(socket, JSON.stringify(message));
  };

  const sendRaw = (socket: WebSocket, frame: string) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    // A peer that stopped reading would otherwise grow our memory without bound.
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) return socket.terminate();
    socket.send(frame);
  };

  const closeSocket = (socket: WebSocket, code: number, reason: string) => {
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(code, reason.slice(0, 120));
  };

  const publish = (message: BusMessage, to?: string) =>
    bus.publish(message, to).catch((err: unknown) => log?.error({ err }, 'signaling bus publish failed'));

  const publishLog = (entry: LogEntry) => publish({ kind: 'log', origin: self, entry });

  const reportPresence = (events: P2pProviderEvent[]) => {
    if (events.length === 0) return;
    presenceChain = presenceChain.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await options.onPresence(events);
        } catch (err) {
          if (attempt >= 3) return log?.error({ err, events: events.map((e) => e.eventId) }, 'presence events not delivered');
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    });
  };

  const execute = (effects: Effect[]) => {
    const presence: P2pProviderEvent[] = [];
    for (const effect of effects) {
      if (effect.type === 'presence') {
        if (effect.owner === self) presence.push(effect.event);
        continue;
      }
      if (effect.to.instanceId !== self) continue;
      const conn = connections.get(effect.to.peerId);
      if (!conn) continue;
      if (effect.type === 'send') send(conn.socket, effect.message);
      else {
        conn.dropped = true;
        closeSocket(conn.socket, effect.code, effect.reason);
      }
    }
    reportPresence(presence);
  };

  const onBusMessage = (message: BusMessage) => {
    if (message.origin !== self) {
      lastSeen.set(message.origin, Date.now());
      reportedGone.delete(message.origin);
    }
    switch (message.kind) {
      case 'log': {
        execute(registry.apply(message.entry));
        // The socket closed while its join was on its way: the log still has to hear that it left.
        if (message.entry.kind === 'join' && message.entry.member.instanceId === self) {
          const m = message.entry.member;
          if (!connections.has(m.peerId) && registry.member(m.peerId, m.roomId)) {
            void publishLog({ kind: 'leave', roomId: m.roomId, peerId: m.peerId, reason: 'connection lost', at: new Date().toISOString() });
          }
        }
        return;
      }
      case 'signal': {
        const conn = connections.get(message.to);
        const from = registry.member(message.from, message.roomId);
        if (conn && from?.admitted && conn.member?.roomId === message.roomId) {
          send(conn.socket, { type: 'signal', from: message.from, data: message.data });
        }
        return;
      }
      case 'sync-request':
        if (message.origin !== self) void publish({ kind: 'snapshot', origin: self, snapshot: registry.snapshot(self) }, message.origin);
        return;
      case 'snapshot':
        registry.restore(message.snapshot);
        return;
      case 'alive':
        return;
    }
  };

  const checkInstances = () => {
    void publish({ kind: 'alive', origin: self });
    const now = Date.now();
    for (const [id, seen] of lastSeen) {
      if (id === self || reportedGone.has(id)) continue;
      if (now - Math.max(seen, startedAt) > 3 * instanceBeatMs && registry.membersOf(id).length > 0) {
        reportedGone.add(id);
        void publishLog({ kind: 'instance-gone', instanceId: id, reporter: self, at: new Date().toISOString() });
      }
    }
  };

  const heartbeat = () => {
    for (const conn of connections.values()) {
      if (conn.awaitingPong) {
        conn.leaveReason = 'heartbeat timeout';
        conn.socket.terminate();
        continue;
      }
      conn.awaitingPong = true;
      try {
        conn.socket.ping();
      } catch {
        conn.socket.terminate();
      }
    }
  };

  const authenticate = async (conn: Connection, token: string) => {
    let claims: P2pJoinClaims;
    try {
      claims = await verifyP2pJoinToken(token, options.signingKey);
      await options.authorizeJoin?.(claims);
    } catch (err) {
      const e = err instanceof OperationOutcomeError ? err : undefined;
      const code = e?.status === 410 ? CloseCode.MEETING_ENDED : e?.status === 403 ? CloseCode.REMOVED : CloseCode.UNAUTHORIZED;
      if (!e) log?.error({ err }, 'join check failed');
      return closeSocket(conn.socket, code, e?.message ?? 'join refused');
    }
    if (conn.socket.readyState !== WebSocket.OPEN) return;
    const ended = registry.endedReason(claims.roomId);
    if (ended !== undefined) return closeSocket(conn.socket, CloseCode.MEETING_ENDED, `meeting ended: ${ended}`);
    if (registry.isDenied(claims.roomId, claims.participantId, claims.tokenId)) {
      return closeSocket(conn.socket, CloseCode.REMOVED, 'removed from this meeting by the host');
    }
    const member: Member = {
      peerId: randomUUID(),
      roomId: claims.roomId,
      meetingId: claims.meetingId,
      participantId: claims.participantId,
      userId: claims.userId,
      role: claims.role,
      displayName: claims.displayName,
      tokenId: claims.tokenId,
      instanceId: self,
    };
    conn.member = member;
    connections.set(member.peerId, conn);
    send(conn.socket, { type: 'welcome', self: peerInfo(member), roomId: member.roomId, meetingId: member.meetingId, iceServers });
    await publishLog({ kind: 'join', member, at: new Date().toISOString() });
  };

  const onMessage = (conn: Connection, message: ClientMessage) => {
    const m = conn.member!;
    switch (message.type) {
      case 'auth':
        return send(conn.socket, { type: 'error', code: 'bad-message', message: 'already authenticated' });
      case 'signal': {
        const sender = registry.member(m.peerId, m.roomId);
        if (!sender?.admitted) return send(conn.socket, { type: 'error', code: 'not-admitted', message: 'waiting for the host' });
        const target = registry.member(message.to, m.roomId);
        if (!target?.admitted || target.peerId === m.peerId) {
          return send(conn.socket, { type: 'error', code: 'unknown-peer', message: 'no such participant in this meeting' });
        }
        if (target.instanceId === self) {
          const to = connections.get(target.peerId);
          // The hot path: the frame is assembled around the payload rather than re-serialising an envelope.
          if (to) sendRaw(to.socket, `{"type":"signal","from":${JSON.stringify(m.peerId)},"data":${JSON.stringify(message.data)}}`);
        } else {
          void publish({ kind: 'signal', origin: self, roomId: m.roomId, from: m.peerId, to: target.peerId, data: message.data }, target.instanceId);
        }
        return;
      }
      case 'remove':
      case 'admit': {
        const sender = registry.member(m.peerId, m.roomId);
        if (m.role !== 'host' || !sender?.admitted) return send(conn.socket, { type: 'error', code: 'forbidden', message: `only the host can ${message.type} participants` });
        if (message.participantId === m.participantId) return send(conn.socket, { type: 'error', code: 'forbidden', message: 'not for yourself' });
        void publishLog({ kind: message.type, roomId: m.roomId, participantId: message.participantId, byPeerId: m.peerId, at: new Date().toISOString() });
        return;
      }
      case 'leave':
        conn.leaveReason = 'left';
        return closeSocket(conn.socket, CloseCode.LEFT, 'left');
    }
  };

  const handleConnection = (socket: WebSocket, url?: string) => {
    const conn: Connection = { socket, awaitingPong: false, dropped: false };
    if (closing) return closeSocket(socket, CloseCode.SERVER_GOING_AWAY, 'server shutting down');
    let authStarted = false;
    const authTimer = setTimeout(() => {
      if (!authStarted) closeSocket(socket, CloseCode.AUTH_TIMEOUT, 'no join token received');
    }, authTimeoutMs);
    authTimer.unref();
    const startAuth = (token: string) => {
      authStarted = true;
      clearTimeout(authTimer);
      authenticate(conn, token).catch((err: unknown) => {
        log?.error({ err }, 'signaling join failed');
        closeSocket(socket, CloseCode.INTERNAL_ERROR, 'internal error');
      });
    };

    socket.on('pong', () => (conn.awaitingPong = false));
    socket.on('message', (raw, isBinary) => {
      conn.awaitingPong = false;
      const message = isBinary ? undefined : parseClientMessage(raw.toString());
      if (!message) return closeSocket(socket, CloseCode.PROTOCOL_ERROR, 'not a signaling message');
      if (!authStarted) {
        if (message.type !== 'auth') return closeSocket(socket, CloseCode.UNAUTHORIZED, 'authenticate first');
        return startAuth(message.token);
      }
      // Frames that arrive while the token is being checked are refused, not queued: clients wait for welcome.
      if (!conn.member) return send(socket, { type: 'error', code: 'not-admitted', message: 'wait for welcome' });
      onMessage(conn, message);
    });
    socket.on('close', (code) => {
      clearTimeout(authTimer);
      const m = conn.member;
      if (!m) return;
      connections.delete(m.peerId);
      if (conn.dropped || !registry.member(m.peerId, m.roomId)) return;
      const reason = conn.leaveReason ?? (code === 1000 || code === 1001 ? 'left' : 'connection lost');
      void publishLog({ kind: 'leave', roomId: m.roomId, peerId: m.peerId, reason, at: new Date().toISOString() });
    });
    socket.on('error', () => undefined);

    const token = url ? new URL(url, 'http://signal.invalid').searchParams.get('token') : null;
    if (token) startAuth(token);
  };

  const flushPresence = async () => {
    let seen: Promise<void>;
    do {
      seen = presenceChain;
      await seen;
    } while (seen !== presenceChain);
  };

  const endRoom = async (roomId: string, reason = 'ended by the host') => {
    await bus.publish({ kind: 'log', origin: self, entry: { kind: 'end', roomId, reason, at: new Date().toISOString() } });
  };

  return {
    instanceId: self,
    async ready() {
      unsubscribe ??= bus.subscribe(onBusMessage);
      unsubscribeReset ??= bus.onReset(() => {
        // Messages were lost while the bus was down: whatever we knew of other instances may be stale.
        log?.warn({ instanceId: self }, 'signaling bus reconnected; resynchronising');
        registry.forgetOthers(self);
        void publish({ kind: 'sync-request', origin: self });
      });
      if (timers.length === 0) {
        const beat = setInterval(heartbeat, heartbeatMs);
        const instances = setInterval(checkInstances, instanceBeatMs);
        beat.unref();
        instances.unref();
        timers.push(beat, instances);
      }
      await bus.publish({ kind: 'sync-request', origin: self });
    },
    handleConnection,
    endRoom,
    onRoomEnded: (event) => endRoom(event.roomId, event.reason),
    roomPresence(roomId) {
      const members = registry.members(roomId);
      return {
        admitted: members.filter((m) => m.admitted).map(peerInfo),
        waiting: members.filter((m) => !m.admitted).map(peerInfo),
        ended: registry.endedReason(roomId) !== undefined,
      };
    },
    flushPresence,
    async close() {
      if (closing) return;
      closing = true;
      for (const t of timers) clearInterval(t);
      for (const conn of connections.values()) {
        conn.leaveReason = 'server shutting down';
        closeSocket(conn.socket, CloseCode.SERVER_GOING_AWAY, 'server shutting down, reconnect');
      }
      // Let our departures travel the log so their presence events are reported before we stop listening.
      const deadline = Date.now() + 3_000;
      while (registry.membersOf(self).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      unsubscribe?.();
      unsubscribeReset?.();
      await flushPresence();
    },
  };
}
