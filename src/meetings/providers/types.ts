/**
 * The one interface the meetings workflow talks to for video. Each vendor sits behind it as a small adapter
 * that parses the vendor's answers and turns its failures into ProviderError; the workflow never sees a
 * vendor's wire format and the adapters never touch the database.
 */

export type VideoProviderName = 'p2p' | '100ms';

/** The part a person plays in a meeting. Adapters map it to the vendor's own role names. */
export type ParticipantRole = 'host' | 'patient' | 'guest';

export interface CreateRoomInput {
  /**
   * Stable name chosen by the workflow (`appt-<appointment id>` or `instant-<meeting id>`). 100ms treats a
   * create with an existing name as an update of that room, so creating again is safe.
   */
  name: string;
  description?: string;
  meetingId: string;
}

export interface CreatedRoom {
  /** The provider's id of the room; the handle for every later call. */
  roomId: string;
  /** A link to the room when the provider has one; both current providers join with a token instead. */
  roomUrl?: string;
  /** The provider's answer, parsed, for storing next to the meeting. */
  details: Record<string, unknown>;
}

export interface EndRoomOptions {
  reason: string;
  /** Keep anyone from joining again afterwards. */
  lock: boolean;
}

export interface EndRoomResult {
  /** True when there was no live session left to end (someone or something ended it first). */
  alreadyEnded: boolean;
}

export interface JoinCredentialsInput {
  roomId: string;
  meetingId: string;
  participantId: string;
  /** The product's id of the person; the provider echoes it back in presence events. */
  userId: string;
  role: ParticipantRole;
  displayName: string;
  /** When the credentials stop working. Must be in the future. */
  expiresAt: Date;
}

interface JoinCredentialsBase {
  token: string;
  roomId: string;
  /** When the token stops working, as ISO 8601; may be earlier than asked for when a provider caps it. */
  expiresAt: string;
}

export interface HmsJoinCredentials extends JoinCredentialsBase {
  provider: '100ms';
  /** The 100ms template role the token grants. */
  providerRole: string;
  userId: string;
}

export interface P2pJoinCredentials extends JoinCredentialsBase {
  provider: 'p2p';
  /** Where the browser opens its signaling socket, when configured. */
  signalingUrl?: string;
  participantId: string;
  role: ParticipantRole;
}

export type JoinCredentials = HmsJoinCredentials | P2pJoinCredentials;

/** The HTTP request a webhook arrived in, untouched: signatures are computed over the exact bytes. */
export interface WebhookRequest {
  /** Header names in any case; Node's IncomingHttpHeaders fits. */
  headers: Record<string, string | string[] | undefined>;
  rawBody: string | Uint8Array;
}

export type ProviderEventType = 'peer.joined' | 'peer.left' | 'session.closed' | 'room.ended' | 'unknown';

export interface ProviderEvent {
  provider: VideoProviderName;
  /** The provider's id of the event; providers redeliver, so consumers deduplicate on it. */
  eventId: string;
  type: ProviderEventType;
  roomId: string;
  sessionId?: string;
  peerId?: string;
  /** The userId given when the join credentials were issued. */
  userId?: string;
  /** The provider's role name (for 100ms the template role, e.g. `host` or `guest`). */
  role?: string;
  /** When it happened at the provider, ISO 8601. */
  occurredAt: string;
  reason?: string;
  /** The provider's own event type, kept for logs and for events mapped to `unknown`. */
  rawType: string;
}

export interface VideoProvider {
  readonly name: VideoProviderName;
  createRoom(input: CreateRoomInput): Promise<CreatedRoom>;
  endRoom(roomId: string, options: EndRoomOptions): Promise<EndRoomResult>;
  issueJoinCredentials(input: JoinCredentialsInput): Promise<JoinCredentials>;
  /**
   * Verifies that the request really comes from the provider (throws WebhookAuthenticationError when not)
   * and returns its events in the product's terms.
   */
  parseWebhook(request: WebhookRequest): Promise<ProviderEvent[]>;
}
