import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { badRequest } from '../../../fhir/outcomes.js';
import { WebhookAuthenticationError } from '../errors.js';
import type { ProviderEvent, ProviderEventType, WebhookRequest } from '../types.js';
import { hmsWebhookSchema, type HmsWebhook } from './schemas.js';

export const HMS_DEFAULT_WEBHOOK_SECRET_HEADER = 'x-webhook-secret';
export const HMS_SIGNATURE_HEADER = 'x-100ms-signature';

export interface HmsWebhookVerification {
  /**
   * 100ms secures webhooks with headers you configure on its dashboard, passed through unchanged
   * ("Secure your webhooks"); this is the one we configure there, with a long random value.
   */
  secretHeader: string;
  secret: string;
  /**
   * Optional second check: an HMAC-SHA256 of the raw body in `x-100ms-signature` (hex, `sha256=` prefix
   * allowed). 100ms's webhook guide documents only secret headers and IP allow-listing, so this stays off
   * unless a signing secret is configured.
   */
  signingSecret?: string;
}

/** Throws WebhookAuthenticationError unless the request carries our secret (and signature, when configured). */
export function verifyHmsWebhook(request: WebhookRequest, verification: HmsWebhookVerification): void {
  const presented = singleHeader(request.headers, verification.secretHeader);
  if (presented === undefined || !constantTimeEqual(presented, verification.secret)) {
    throw new WebhookAuthenticationError('100ms', `Webhook secret header ${verification.secretHeader} missing or wrong`);
  }
  if (verification.signingSecret !== undefined) {
    const signature = singleHeader(request.headers, HMS_SIGNATURE_HEADER);
    const expected = createHmac('sha256', verification.signingSecret).update(bodyBytes(request.rawBody)).digest('hex');
    const given = signature?.trim().replace(/^sha256=/i, '').toLowerCase();
    if (given === undefined || !constantTimeEqual(given, expected)) {
      throw new WebhookAuthenticationError('100ms', `Webhook signature ${HMS_SIGNATURE_HEADER} missing or wrong`);
    }
  }
}

/** Parses an authenticated body into the product's events; 100ms sends one event per request. */
export function parseHmsWebhookBody(rawBody: string | Uint8Array): ProviderEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody));
  } catch {
    throw badRequest('100ms webhook body is not JSON');
  }
  const parsed = hmsWebhookSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw badRequest(`100ms webhook body is not a 100ms event (${where})`);
  }
  const event = mapHmsEvent(parsed.data);
  return event ? [event] : [];
}

const TYPES: Record<string, ProviderEventType> = {
  'peer.join.success': 'peer.joined',
  'peer.leave.success': 'peer.left',
  'session.close.success': 'session.closed',
  'room.end.success': 'room.ended',
};

/** Events with no room (workspace-level ones such as template updates) mean nothing to a meeting: dropped. */
export function mapHmsEvent(envelope: HmsWebhook): ProviderEvent | undefined {
  const { data } = envelope;
  const type = TYPES[envelope.type] ?? 'unknown';
  if (!data.room_id) {
    if (type !== 'unknown') throw badRequest(`100ms ${envelope.type} event without data.room_id`);
    return undefined;
  }
  const when =
    type === 'peer.joined' ? data.joined_at : type === 'peer.left' ? data.left_at : type === 'session.closed' ? data.session_stopped_at : undefined;
  const event: ProviderEvent = {
    provider: '100ms',
    eventId: envelope.id,
    type,
    roomId: data.room_id,
    occurredAt: isoOrFallback(when, envelope.timestamp),
    rawType: envelope.type,
  };
  if (data.session_id) event.sessionId = data.session_id;
  if (data.peer_id) event.peerId = data.peer_id;
  if (data.user_id) event.userId = data.user_id;
  if (data.role) event.role = data.role;
  if (data.reason && (type === 'peer.left' || type === 'room.ended')) event.reason = data.reason;
  return event;
}

/** 100ms writes nanoseconds (`…49.97291247Z`) and zero times (`0001-01-01…`) for "not set". */
function isoOrFallback(value: string | undefined, fallback: string): string {
  for (const candidate of [value, fallback]) {
    if (!candidate) continue;
    const ms = Date.parse(candidate);
    if (!Number.isNaN(ms) && new Date(ms).getUTCFullYear() > 1) return new Date(ms).toISOString();
  }
  return fallback;
}

function singleHeader(headers: WebhookRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
    return value;
  }
  return undefined;
}

/** Compares digests, so neither the content nor the length of the secret leaks through timing. */
function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function bodyBytes(raw: string | Uint8Array): Uint8Array {
  return typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
}
