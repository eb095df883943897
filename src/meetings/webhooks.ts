import type { Database } from '../db/database.js';
import { WebhookAuthenticationError } from './providers/errors.js';
import type { ProviderEvent, VideoProviderName, WebhookRequest } from './providers/types.js';
import type { VideoProviderDirectory } from './integrations.js';
import * as store from './meeting-store.js';
import type { MeetingService } from './service.js';
import type { Trigger } from './types.js';

/**
 * Provider webhooks: authenticate with the credentials of the org whose room it is, then apply each event
 * once. The dedup receipt commits in the same transaction as the event's effects, so a redelivery of an
 * event that failed half-way is processed again, and one that succeeded is not.
 */

export interface WebhookOutcome {
  processed: number;
  duplicates: number;
  ignored: number;
}

export interface WebhookHandlerOptions {
  db: Database;
  providers: VideoProviderDirectory;
  meetings: MeetingService;
  /** 0 ends a meeting as soon as the provider closes its session; otherwise the scheduler ends it later. */
  idleEndSeconds: number;
  now?: () => Date;
}

export class WebhookHandler {
  private readonly now: () => Date;

  constructor(private readonly opts: WebhookHandlerOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  async handle(providerName: VideoProviderName, request: WebhookRequest): Promise<WebhookOutcome> {
    const events = await this.authenticate(providerName, request);
    const outcome: WebhookOutcome = { processed: 0, duplicates: 0, ignored: 0 };
    for (const event of events) {
      const result = await this.apply(event);
      outcome[result]++;
    }
    return outcome;
  }

  /**
   * The body names the room; the room names the org; the org's secret must be on the request. Nothing from
   * the body is trusted or stored before that check passes. Rooms we do not know can only be vouched for by
   * the environment's credentials (single-org installs).
   */
  private async authenticate(providerName: VideoProviderName, request: WebhookRequest): Promise<ProviderEvent[]> {
    const roomId = roomIdHint(request.rawBody);
    const meeting = roomId ? await store.findMeetingByRoom(this.opts.db, providerName, roomId) : undefined;
    const provider = meeting
      ? await this.opts.providers.providerFor(meeting.org_id, providerName)
      : this.opts.providers.environmentProvider(providerName);
    if (!provider) throw new WebhookAuthenticationError(providerName, 'Webhook for a room this server does not know');
    return provider.parseWebhook(request);
  }

  /**
   * An event from a source that needs no authentication because it is this server (the p2p signaling
   * server's presence events); deduplicated and applied like a webhook's.
   */
  applyTrustedEvent(event: ProviderEvent): Promise<'processed' | 'duplicates' | 'ignored'> {
    return this.apply(event);
  }

  private async apply(event: ProviderEvent): Promise<'processed' | 'duplicates' | 'ignored'> {
    const trigger: Trigger = { by: event.provider, type: 'provider' };
    let endedOutbox: store.OutboxItem | undefined;
    const result = await this.opts.db.transaction(async (tx) => {
      const now = this.now();
      const fresh = await tx.query(
        `INSERT INTO provider_webhook_receipts (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id`,
        [event.provider, event.eventId, now],
      );
      if (fresh.rowCount === 0) return 'duplicates' as const;
      const meeting = await store.findMeetingByRoom(tx, event.provider, event.roomId, { lock: true });
      if (!meeting) return 'ignored' as const;
      await store.appendEvent(
        tx,
        meeting.id,
        'provider_webhook',
        {
          eventId: event.eventId,
          type: event.type,
          rawType: event.rawType,
          peerId: event.peerId,
          participantId: event.userId,
          sessionId: event.sessionId,
          occurredAt: event.occurredAt,
        },
        trigger,
        now,
      );
      const open = meeting.status === 'scheduled' || meeting.status === 'active';
      // Session times are on this server's clock, like every other time in these tables; the provider's own
      // time of the event is kept in the provider_webhook event (its clock and ours may disagree).
      const when = now;
      switch (event.type) {
        case 'peer.joined': {
          if (!open || !event.peerId || !event.userId) break;
          const session = await store.findParticipant(tx, meeting.id, event.userId);
          if (!session) break;
          if (!session.leftAt && !session.providerPeerId) {
            await store.setParticipantPeer(tx, session.id, event.peerId);
          } else if (session.providerPeerId !== event.peerId) {
            // The same person is back at the provider without asking us first (an SDK reconnect): a new session.
            const again = await store.insertParticipant(tx, { ...session, joinedAt: when, providerPeerId: event.peerId });
            await store.appendEvent(
              tx,
              meeting.id,
              'participant_joined',
              { participantId: again.id, previousParticipantId: session.id, role: again.role, userType: again.userType, rejoin: true },
              trigger,
              now,
            );
          }
          if (meeting.provider_session_closed_at) await store.setProviderSessionClosed(tx, meeting.id, null, now);
          break;
        }
        case 'peer.left': {
          if (!event.peerId) break;
          const session =
            (await store.findOpenParticipantByPeer(tx, meeting.id, event.peerId)) ??
            (event.userId ? await store.findParticipant(tx, meeting.id, event.userId) : undefined);
          if (!session || session.leftAt) break;
          const closed = await store.closeParticipant(tx, session.id, when);
          if (closed) {
            await store.appendEvent(
              tx,
              meeting.id,
              'participant_left',
              { participantId: closed.id, role: closed.role, durationSeconds: closed.durationSeconds, reason: event.reason ?? 'left' },
              trigger,
              now,
            );
          }
          break;
        }
        case 'session.closed': {
          if (!open) break;
          for (const p of await store.closeOpenParticipants(tx, meeting.id, when)) {
            await store.appendEvent(
              tx,
              meeting.id,
              'participant_left',
              { participantId: p.id, role: p.role, durationSeconds: p.durationSeconds, reason: 'provider session closed' },
              trigger,
              now,
            );
          }
          await store.setProviderSessionClosed(tx, meeting.id, when, now);
          if (this.opts.idleEndSeconds === 0 && meeting.status === 'active') {
            const ended = await this.opts.meetings.endInTx(tx, meeting, 'provider session closed', trigger, { endAtProvider: true });
            endedOutbox = ended.outbox;
          }
          break;
        }
        case 'room.ended': {
          if (!open) break;
          // The provider already ended the room: nothing to end there.
          await this.opts.meetings.endInTx(tx, meeting, event.reason || 'room ended at the provider', trigger, { endAtProvider: false });
          break;
        }
        default:
          break;
      }
      return 'processed' as const;
    });
    if (endedOutbox) await this.opts.meetings.deliverClaimed(endedOutbox);
    return result;
  }
}

/** Where the room id sits in the provider's envelope (100ms: data.room_id); only used to pick credentials. */
function roomIdHint(rawBody: string | Uint8Array): string | undefined {
  try {
    const body = JSON.parse(typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody)) as { data?: { room_id?: unknown } };
    return typeof body?.data?.room_id === 'string' ? body.data.room_id : undefined;
  } catch {
    return undefined;
  }
}
