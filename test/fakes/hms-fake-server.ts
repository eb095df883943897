import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

/**
 * A local stand-in for the part of the 100ms REST API and webhooks the product uses, strict where 100ms is
 * strict (per its server-side API reference): HS256 management tokens signed with the app secret and carrying
 * access_key / type "management" / version 2 / a future exp; exact paths and methods; room names limited to
 * a-z A-Z 0-9 . - : _ (case-insensitive, create-by-name is an upsert); `{code, message, details}` errors;
 * end-room on a room without a live session answers 404. It can play peers joining and leaving, which it
 * reports as 100ms does: a POST of the 2.0 envelope to the configured webhook URL with the configured
 * secret header (and an optional HMAC signature).
 */

export interface HmsFakeWebhookConfig {
  url: string;
  secretHeader?: string;
  secret?: string;
  /** When set, each delivery also carries `x-100ms-signature`: hex HMAC-SHA256 of the raw body. */
  signingSecret?: string;
}

export interface HmsFakeOptions {
  accessKey: string;
  appSecret: string;
  /** Known templates and the roles each defines; unknown template ids are refused like 100ms does. */
  templates?: Record<string, string[]>;
  webhook?: HmsFakeWebhookConfig;
  appId?: string;
  accountId?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/v2/rooms`. */
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The body parsed as JSON, or undefined. */
  body: unknown;
}

export interface WebhookDelivery {
  type: string;
  envelope: Record<string, unknown>;
  rawBody: string;
  /** HTTP status the receiver answered, or 0 when it could not be reached. */
  status: number;
}

export interface FakeRoom {
  id: string;
  name: string;
  description?: string;
  templateId: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  session?: FakeSession;
}

interface FakeSession {
  id: string;
  startedAt: Date;
  peers: Map<string, FakePeer>;
}

interface FakePeer {
  peerId: string;
  userId: string;
  userName: string;
  role: string;
  joinedAt: Date;
}

interface CannedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const ROOM_NAME = /^[A-Za-z0-9.\-:_]+$/;
const DEFAULT_TEMPLATE = 'tmpl-telehealth';

export class HmsFakeServer {
  readonly requests: RecordedRequest[] = [];
  readonly webhookDeliveries: WebhookDelivery[] = [];
  readonly rooms = new Map<string, FakeRoom>();
  private readonly templates: Record<string, string[]>;
  private readonly appId: string;
  private readonly accountId: string;
  private webhook: HmsFakeWebhookConfig | undefined;
  private down: false | '503' | 'refuse' = false;
  private readonly canned: CannedResponse[] = [];
  private delayMs = 0;
  private delayCount = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private server!: Server;
  private port = 0;

  private constructor(private readonly options: HmsFakeOptions) {
    this.templates = options.templates ?? { [DEFAULT_TEMPLATE]: ['host', 'guest'] };
    this.appId = options.appId ?? objectId();
    this.accountId = options.accountId ?? objectId();
    this.webhook = options.webhook;
  }

  static async start(options: HmsFakeOptions): Promise<HmsFakeServer> {
    const fake = new HmsFakeServer(options);
    fake.server = createServer((req, res) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { code: 500, message: `fake 100ms failed: ${String(err)}`, details: [] });
      });
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** Base URL including `/v2`, as the client expects. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v2`;
  }

  /** true: every request gets a 503; 'refuse': connections are dropped without an answer. */
  setDown(down: boolean | 'refuse'): void {
    this.down = down === true ? '503' : down;
  }

  /** The next requests get these answers instead of being handled (after being recorded). */
  failNext(...responses: CannedResponse[]): void {
    this.canned.push(...responses);
  }

  /** Hold the next `count` answers for `ms` milliseconds (to exercise timeouts). */
  delayNext(ms: number, count = 1): void {
    this.delayMs = ms;
    this.delayCount = count;
  }

  setWebhook(webhook: HmsFakeWebhookConfig | undefined): void {
    this.webhook = webhook;
  }

  roomByName(name: string): FakeRoom | undefined {
    return [...this.rooms.values()].find((r) => r.name.toLowerCase() === name.toLowerCase());
  }

  /** A peer joins as with the client SDK: opens a session when none is live, then reports the join. */
  async peerJoins(roomId: string, peer: { userId: string; role: string; userName?: string }): Promise<{ peerId: string; sessionId: string }> {
    const room = this.rooms.get(roomId);
    if (!room) throw new Error(`fake 100ms: no room ${roomId}`);
    if (!room.enabled) throw new Error(`fake 100ms: room ${roomId} is disabled`);
    if (!(this.templates[room.templateId] ?? []).includes(peer.role)) throw new Error(`fake 100ms: role not allowed: ${peer.role}`);
    if (!room.session) {
      room.session = { id: objectId(), startedAt: new Date(), peers: new Map() };
      await this.emit('session.open.success', room, {
        session_id: room.session.id,
        session_started_at: nanos(room.session.startedAt),
      });
    }
    const session = room.session;
    const joined: FakePeer = { peerId: randomUUID(), userId: peer.userId, userName: peer.userName ?? peer.userId, role: peer.role, joinedAt: new Date() };
    session.peers.set(joined.peerId, joined);
    await this.emit('peer.join.success', room, { ...this.peerData(session, joined), joined_at: nanos(joined.joinedAt) });
    return { peerId: joined.peerId, sessionId: session.id };
  }

  /**
   * Joins with an auth (app) token, checked as 100ms checks it: HS256 with the app secret, type "app",
   * version 2, this access key, an existing enabled room, a role of the room's template, exp in the future.
   */
  async joinWithAuthToken(token: string, userName?: string): Promise<{ peerId: string; sessionId: string }> {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(this.options.appSecret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'iat', 'nbf', 'jti'],
    });
    if (payload.type !== 'app' || payload.version !== 2 || payload.access_key !== this.options.accessKey) {
      throw new Error('fake 100ms: not an app token for this workspace');
    }
    if (typeof payload.room_id !== 'string' || typeof payload.user_id !== 'string' || typeof payload.role !== 'string') {
      throw new Error('fake 100ms: app token without room_id, user_id or role');
    }
    return this.peerJoins(payload.room_id, { userId: payload.user_id, role: payload.role, userName });
  }

  async peerLeaves(roomId: string, who: { peerId?: string; userId?: string }, reason = 'client request'): Promise<void> {
    const room = this.rooms.get(roomId);
    const session = room?.session;
    if (!room || !session) throw new Error(`fake 100ms: no live session in ${roomId}`);
    const peer = [...session.peers.values()].find((p) => (who.peerId ? p.peerId === who.peerId : p.userId === who.userId));
    if (!peer) throw new Error('fake 100ms: no such peer');
    await this.removePeer(room, session, peer, reason);
  }

  /** Ends the live session as 100ms does when it closes it: everyone leaves, then session.close.success. */
  async closeSession(roomId: string, reason = 'server removed peer'): Promise<void> {
    const room = this.rooms.get(roomId);
    const session = room?.session;
    if (!room || !session) throw new Error(`fake 100ms: no live session in ${roomId}`);
    for (const peer of [...session.peers.values()]) await this.removePeer(room, session, peer, reason);
    const stoppedAt = new Date();
    room.session = undefined;
    await this.emit('session.close.success', room, {
      session_id: session.id,
      session_started_at: nanos(session.startedAt),
      session_stopped_at: nanos(stoppedAt),
      session_duration: Math.round((stoppedAt.getTime() - session.startedAt.getTime()) / 1000),
    });
  }

  /** Waits until every webhook the fake has started sending got its answer. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.idle();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody, body });

    if (this.down === 'refuse') {
      req.socket.destroy();
      return;
    }
    if (this.delayCount > 0) {
      this.delayCount -= 1;
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      if (res.destroyed || req.socket.destroyed) return;
    }
    if (this.down === '503') return send(res, 503, { code: 503, message: 'Service Unavailable', details: [] });
    const canned = this.canned.shift();
    if (canned) return send(res, canned.status, canned.body ?? { code: canned.status, message: 'canned', details: [] }, canned.headers);

    const authError = await this.authenticate(req.headers.authorization);
    if (authError) return send(res, 401, { code: 401, message: authError, details: [] });

    const url = new URL(req.url ?? '/', 'http://fake');
    const endRoom = /^\/v2\/active-rooms\/([^/]+)\/end-room$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/v2/rooms') return this.createRoom(req, res, rawBody, body);
    if (req.method === 'POST' && endRoom) return this.endRoom(req, res, rawBody, body, decodeURIComponent(endRoom[1]));
    return send(res, 404, { code: 404, message: 'Not Found', details: [`${req.method} ${url.pathname}`] });
  }

  private async authenticate(header: string | undefined): Promise<string | undefined> {
    const match = /^Bearer (\S+)$/.exec(header ?? '');
    if (!match) return 'Authentication error';
    try {
      const { payload } = await jwtVerify(match[1], new TextEncoder().encode(this.options.appSecret), {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
      });
      if (payload.type !== 'management' || payload.version !== 2 || payload.access_key !== this.options.accessKey) {
        return 'Token validation error';
      }
      return undefined;
    } catch {
      return 'Token validation error';
    }
  }

  private createRoom(req: IncomingMessage, res: ServerResponse, rawBody: string, body: unknown): void {
    const invalid = jsonObjectProblem(req, rawBody, body);
    if (invalid) return send(res, 400, { code: 400, message: invalid, details: [] });
    const b = body as Record<string, unknown>;
    if ('template' in b) return send(res, 400, { code: 400, message: 'Invalid body param: template. Use template_id', details: [] });
    for (const key of ['name', 'description', 'template_id'] as const) {
      if (b[key] !== undefined && typeof b[key] !== 'string') {
        return send(res, 400, { code: 400, message: `Invalid body param: ${key}`, details: [`${key} must be a string`] });
      }
    }
    const name = (b.name as string | undefined) ?? `room-${randomBytes(4).toString('hex')}`;
    if (!ROOM_NAME.test(name)) {
      return send(res, 400, { code: 400, message: 'Invalid body param: name', details: ['accepted characters are a-z, A-Z, 0-9, and . - : _'] });
    }
    const templateId = (b.template_id as string | undefined) ?? Object.keys(this.templates)[0];
    if (!(templateId in this.templates)) return send(res, 400, { code: 400, message: 'Error: template not found', details: [] });

    const now = new Date().toISOString();
    let room = this.roomByName(name);
    if (room) {
      // 100ms: creating with an existing name updates that room with the new configuration.
      room.templateId = templateId;
      if (b.description !== undefined) room.description = b.description as string;
      room.updatedAt = now;
    } else {
      room = { id: objectId(), name, description: b.description as string | undefined, templateId, enabled: true, createdAt: now, updatedAt: now };
      this.rooms.set(room.id, room);
    }
    send(res, 200, this.roomJson(room));
  }

  private endRoom(req: IncomingMessage, res: ServerResponse, rawBody: string, body: unknown, roomId: string): void {
    const invalid = jsonObjectProblem(req, rawBody, body);
    if (invalid) return send(res, 400, { code: 400, message: invalid, details: [] });
    const b = body as Record<string, unknown>;
    if (b.reason !== undefined && typeof b.reason !== 'string') return send(res, 400, { code: 400, message: 'Invalid body param: reason', details: [] });
    if (b.lock !== undefined && typeof b.lock !== 'boolean') return send(res, 400, { code: 400, message: 'Invalid body param: lock', details: [] });
    const room = this.rooms.get(roomId);
    if (!room) return send(res, 404, { code: 404, message: 'room not found', details: [] });
    const session = room.session;
    if (!session) return send(res, 404, { code: 404, message: 'active room not found', details: [] });
    if (b.lock === true) room.enabled = false;
    send(res, 200, { message: 'session is ending' });
    // 100ms ends the session after answering; the events follow asynchronously.
    this.track(
      (async () => {
        await this.emit('room.end.success', room, {
          session_id: session.id,
          lock_room: b.lock === true,
          reason: (b.reason as string | undefined) ?? '',
          source: 'api',
          session_started_at: nanos(session.startedAt),
        });
        await this.closeSession(room.id, 'peer kicked');
      })(),
    );
  }

  private async removePeer(room: FakeRoom, session: FakeSession, peer: FakePeer, reason: string): Promise<void> {
    session.peers.delete(peer.peerId);
    const leftAt = new Date();
    await this.emit('peer.leave.success', room, {
      ...this.peerData(session, peer),
      joined_at: nanos(peer.joinedAt),
      left_at: nanos(leftAt),
      duration: Math.round((leftAt.getTime() - peer.joinedAt.getTime()) / 1000),
      reason,
    });
  }

  private peerData(session: FakeSession, peer: FakePeer): Record<string, unknown> {
    return {
      session_id: session.id,
      peer_id: peer.peerId,
      user_id: peer.userId,
      user_name: peer.userName,
      user_data: '',
      role: peer.role,
      session_started_at: nanos(session.startedAt),
    };
  }

  private roomJson(room: FakeRoom): Record<string, unknown> {
    return {
      id: room.id,
      name: room.name,
      enabled: room.enabled,
      description: room.description,
      customer_id: this.accountId,
      app_id: this.appId,
      recording_info: { enabled: false },
      template_id: room.templateId,
      template: room.templateId,
      region: 'us',
      created_at: room.createdAt,
      updated_at: room.updatedAt,
    };
  }

  private async emit(type: string, room: FakeRoom, data: Record<string, unknown>): Promise<void> {
    const webhook = this.webhook;
    if (!webhook) return;
    const envelope = {
      version: '2.0',
      id: randomUUID(),
      app_id: this.appId,
      account_id: this.accountId,
      template_id: room.templateId,
      timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      type,
      data: { room_id: room.id, room_name: room.name, template_id: room.templateId, ...data },
    };
    const rawBody = JSON.stringify(envelope);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (webhook.secret !== undefined) headers[webhook.secretHeader ?? 'x-webhook-secret'] = webhook.secret;
    if (webhook.signingSecret) headers['x-100ms-signature'] = createHmac('sha256', webhook.signingSecret).update(rawBody).digest('hex');
    let status = 0;
    try {
      const res = await fetch(webhook.url, { method: 'POST', headers, body: rawBody });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.webhookDeliveries.push({ type, envelope, rawBody, status });
  }

  private track(work: Promise<unknown>): void {
    const p = work.finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}

function jsonObjectProblem(req: IncomingMessage, rawBody: string, body: unknown): string | undefined {
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) return 'Content-Type must be application/json';
  if (rawBody.length === 0 || body === undefined) return 'Invalid request body';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'Invalid request body';
  return undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** 100ms ids look like MongoDB ObjectIds: 24 hex characters. */
function objectId(): string {
  return randomBytes(12).toString('hex');
}

/** 100ms writes event times with nanoseconds, e.g. `2021-11-30T12:58:49.97291247Z`. */
function nanos(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1291247Z');
}
