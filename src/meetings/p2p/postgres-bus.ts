import pg from 'pg';
import { newInstanceId, type BusMessage, type SignalingBus } from './bus.js';

/**
 * The bus between server instances on one PostgreSQL: LISTEN/NOTIFY on a dedicated connection. PostgreSQL
 * hands notifications to every listener in commit order, and each instance sends its own on one connection,
 * so all instances see one global order — the property the shared room log needs.
 *
 * NOTIFY payloads must stay under 8000 bytes and an SDP offer can come close, so messages are sent as
 * ASCII-only JSON split into numbered chunks and put back together on arrival.
 */

const BROADCAST_CHANNEL = 'p2p_signaling';
const CHUNK_CHARS = 7_000;
/** Parts of a message whose rest never arrived (connection lost mid-message) are dropped after this. */
const PARTIAL_TTL_MS = 30_000;
/** Notifications of one transaction are held in memory until commit; keep batches moderate. */
const MAX_NOTIFY_PER_QUERY = 200;
const RECONNECT_DELAY_MS = [100, 500, 1_000, 2_000, 5_000];

export interface PostgresBusOptions {
  connectionString: string;
  instanceId?: string;
  onError?: (err: unknown) => void;
}

function instanceChannel(instanceId: string): string {
  return `p2p_signaling_${instanceId}`;
}

/** Non-ASCII characters as \u escapes: the text is then 1 byte per character whatever the database encoding. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function createPostgresBus(options: PostgresBusOptions): Promise<SignalingBus> {
  const instanceId = options.instanceId ?? newInstanceId();
  if (!/^[0-9a-z_]{1,40}$/.test(instanceId)) throw new Error('instanceId must be lowercase letters, digits or _');
  const handlers = new Set<(message: BusMessage) => void>();
  const resetHandlers = new Set<() => void>();
  const partial = new Map<string, { parts: string[]; received: number; since: number }>();
  let counter = 0;
  let client: pg.Client | undefined;
  let closed = false;
  let connecting: Promise<void> | undefined;
  // pg wants one query at a time per client. Messages published while a query is in flight are sent
  // together in the next one: one round trip for many notifications, still in publish order.
  let queue: { channel: string; frames: string[]; done: (err?: unknown) => void }[] = [];
  let flushing = false;
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch: typeof queue = [];
        let calls = 0;
        while (queue.length > 0 && (batch.length === 0 || calls + queue[0].frames.length <= MAX_NOTIFY_PER_QUERY)) {
          calls += queue[0].frames.length;
          batch.push(queue.shift()!);
        }
        const params: string[] = [];
        const select: string[] = [];
        for (const item of batch) {
          for (const frame of item.frames) {
            params.push(item.channel, frame);
            select.push(`pg_notify($${params.length - 1}, $${params.length})`);
          }
        }
        try {
          const c = client;
          if (!c) throw new Error('signaling bus is not connected');
          await c.query(`SELECT ${select.join(', ')}`, params);
          for (const item of batch) item.done();
        } catch (err) {
          for (const item of batch) item.done(err);
        }
      }
    } finally {
      flushing = false;
    }
  };

  const deliver = (message: BusMessage) => {
    for (const h of handlers) {
      try {
        h(message);
      } catch (err) {
        options.onError?.(err);
      }
    }
  };

  const onNotification = (n: pg.Notification) => {
    const payload = n.payload ?? '';
    const [msgId, seqText, totalText] = payload.split('|', 3);
    const body = payload.slice(msgId.length + seqText.length + totalText.length + 3);
    const seq = Number(seqText);
    const total = Number(totalText);
    if (total === 1) return deliver(JSON.parse(body) as BusMessage);
    const now = Date.now();
    let p = partial.get(msgId);
    if (!p) {
      for (const [id, old] of partial) if (now - old.since > PARTIAL_TTL_MS) partial.delete(id);
      p = { parts: new Array<string>(total), received: 0, since: now };
      partial.set(msgId, p);
    }
    p.parts[seq] = body;
    if (++p.received === total) {
      partial.delete(msgId);
      deliver(JSON.parse(p.parts.join('')) as BusMessage);
    }
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.connectionString });
    c.on('notification', onNotification);
    c.on('error', (err) => {
      options.onError?.(err);
      lost(c);
    });
    c.on('end', () => lost(c));
    await c.connect();
    await c.query(`LISTEN ${BROADCAST_CHANNEL}`);
    await c.query(`LISTEN ${instanceChannel(instanceId)}`);
    client = c;
  };

  // Notifications sent while we were not listening are gone; the server resynchronises on reset.
  const lost = (c: pg.Client) => {
    if (client !== c || closed) return;
    client = undefined;
    void c.end().catch(() => undefined);
    connecting = (async () => {
      for (let attempt = 0; !closed; attempt++) {
        await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS[Math.min(attempt, RECONNECT_DELAY_MS.length - 1)]));
        try {
          await connect();
          partial.clear();
          for (const h of resetHandlers) h();
          return;
        } catch (err) {
          options.onError?.(err);
        }
      }
    })().finally(() => (connecting = undefined));
  };

  await connect();

  return {
    instanceId,
    async publish(message, to) {
      if (!client && connecting) await connecting;
      if (!client) throw new Error('signaling bus is not connected');
      const channel = to === undefined ? BROADCAST_CHANNEL : instanceChannel(to);
      const text = asciiJson(message);
      const msgId = `${instanceId}.${(counter++).toString(36)}`;
      const total = Math.max(1, Math.ceil(text.length / CHUNK_CHARS));
      const frames: string[] = [];
      for (let i = 0; i < total; i++) frames.push(`${msgId}|${i}|${total}|${text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS)}`);
      // One statement is one transaction: the chunks of a message are delivered together.
      await new Promise<void>((resolve, reject) => {
        queue.push({ channel, frames, done: (err) => (err ? reject(err) : resolve()) });
        void flush();
      });
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
      closed = true;
      const c = client;
      client = undefined;
      if (c) await c.end().catch(() => undefined);
    },
  };
}
