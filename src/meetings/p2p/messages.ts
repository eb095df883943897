import type { ClientMessage, SignalPayload } from './protocol.js';

/**
 * Parses a frame from a browser. Only the fields of the protocol survive: what is relayed to the other peer
 * is rebuilt here, never forwarded as received, so a client cannot push arbitrary JSON at other people.
 */
export function parseClientMessage(text: string): ClientMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw)) return undefined;
  switch (raw.type) {
    case 'auth':
      return typeof raw.token === 'string' && raw.token.length > 0 ? { type: 'auth', token: raw.token } : undefined;
    case 'signal': {
      if (typeof raw.to !== 'string') return undefined;
      const data = parseSignalPayload(raw.data);
      return data ? { type: 'signal', to: raw.to, data } : undefined;
    }
    case 'remove':
    case 'admit':
      return typeof raw.participantId === 'string' ? { type: raw.type, participantId: raw.participantId } : undefined;
    case 'leave':
      return { type: 'leave' };
    default:
      return undefined;
  }
}

const DESCRIPTION_TYPES = new Set(['offer', 'answer', 'pranswer', 'rollback']);

function parseSignalPayload(raw: unknown): SignalPayload | undefined {
  if (!isObject(raw)) return undefined;
  const out: SignalPayload = {};
  if (raw.description !== undefined) {
    const d = raw.description;
    if (!isObject(d) || typeof d.type !== 'string' || !DESCRIPTION_TYPES.has(d.type)) return undefined;
    if (d.sdp !== undefined && typeof d.sdp !== 'string') return undefined;
    out.description = { type: d.type as 'offer' | 'answer' | 'pranswer' | 'rollback', sdp: d.sdp as string | undefined };
  }
  if (raw.candidate !== undefined) {
    const c = raw.candidate;
    if (c === null) out.candidate = null;
    else if (!isObject(c) || (c.candidate !== undefined && typeof c.candidate !== 'string')) return undefined;
    else {
      out.candidate = {
        candidate: c.candidate as string | undefined,
        sdpMid: typeof c.sdpMid === 'string' ? c.sdpMid : null,
        sdpMLineIndex: typeof c.sdpMLineIndex === 'number' ? c.sdpMLineIndex : null,
        usernameFragment: typeof c.usernameFragment === 'string' ? c.usernameFragment : null,
      };
    }
  }
  if (raw.media !== undefined) {
    const m = raw.media;
    if (!isObject(m) || typeof m.audio !== 'boolean' || typeof m.video !== 'boolean') return undefined;
    out.media = { audio: m.audio, video: m.video };
  }
  return out.description || out.candidate !== undefined || out.media ? out : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
