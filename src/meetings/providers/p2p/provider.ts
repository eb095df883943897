import { randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { z } from 'zod';
import { badRequest, notSupported, unauthorized, unprocessable } from '../../../fhir/outcomes.js';
import type {
  CreateRoomInput,
  CreatedRoom,
  EndRoomOptions,
  EndRoomResult,
  JoinCredentialsInput,
  P2pJoinCredentials,
  ProviderEvent,
  VideoProvider,
} from '../types.js';

/**
 * Server side of the built-in peer-to-peer provider. There is no vendor: a room is an id, and a join token
 * is what the product's own signaling server will check before it relays a participant's offers and answers.
 */

export const P2P_TOKEN_AUDIENCE = 'p2p-signaling';
export const P2P_TOKEN_ISSUER = 'telehealth-fhir';
/** HS256 is only as strong as its key: at least 256 bits. */
const MIN_KEY_BYTES = 32;

export interface P2pProviderConfig {
  provider: 'p2p';
  signingKey: Uint8Array | string;
  /** Where browsers open the signaling socket; handed out with the credentials when set. */
  signalingUrl?: string;
  /** Tokens never live longer than this, whatever expiry is asked for; 10 minutes by default. */
  maxTokenTtlSeconds?: number;
  /** Called when a room is ended so the signaling server can close its sockets. */
  onRoomEnded?: (event: { roomId: string; reason: string; lock: boolean }) => void | Promise<void>;
  now?: () => number;
}

const claimsSchema = z.object({
  sub: z.string().min(1),
  room_id: z.string().min(1),
  meeting_id: z.string().min(1),
  user_id: z.string().min(1),
  role: z.enum(['host', 'patient', 'guest']),
  name: z.string(),
  exp: z.number(),
  jti: z.string().min(1),
});

export interface P2pJoinClaims {
  participantId: string;
  roomId: string;
  meetingId: string;
  userId: string;
  role: 'host' | 'patient' | 'guest';
  displayName: string;
  expiresAt: Date;
  tokenId: string;
}

export function p2pSigningKey(key: Uint8Array | string): Uint8Array {
  const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  if (bytes.byteLength < MIN_KEY_BYTES) {
    throw unprocessable(`The p2p signing key must be at least ${MIN_KEY_BYTES} bytes`, 'signingKey');
  }
  return bytes;
}

/**
 * For the signaling server: accepts only an unexpired HS256 token for our audience, signed with this key,
 * and — when given — for this room or meeting. Anything else is a 401.
 */
export async function verifyP2pJoinToken(
  token: string,
  key: Uint8Array | string,
  expect: { roomId?: string; meetingId?: string; now?: Date } = {},
): Promise<P2pJoinClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, p2pSigningKey(key), {
      algorithms: ['HS256'],
      audience: P2P_TOKEN_AUDIENCE,
      issuer: P2P_TOKEN_ISSUER,
      requiredClaims: ['exp', 'sub', 'jti'],
      currentDate: expect.now,
    }));
  } catch {
    throw unauthorized('Invalid or expired join token');
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw unauthorized('Invalid join token');
  const c = parsed.data;
  if (expect.roomId !== undefined && c.room_id !== expect.roomId) throw unauthorized('Join token is for another room');
  if (expect.meetingId !== undefined && c.meeting_id !== expect.meetingId) throw unauthorized('Join token is for another meeting');
  return {
    participantId: c.sub,
    roomId: c.room_id,
    meetingId: c.meeting_id,
    userId: c.user_id,
    role: c.role,
    displayName: c.name,
    expiresAt: new Date(c.exp * 1000),
    tokenId: c.jti,
  };
}

export class P2pVideoProvider implements VideoProvider {
  readonly name = 'p2p' as const;
  /** A CryptoKey imported once: jose signs with WebCrypto, and given raw bytes it imports them on every signature. */
  private readonly key: Promise<webcrypto.CryptoKey>;
  private readonly now: () => number;
  private readonly maxTtlSeconds: number;

  constructor(private readonly config: P2pProviderConfig) {
    this.key = webcrypto.subtle.importKey('raw', p2pSigningKey(config.signingKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    this.now = config.now ?? Date.now;
    this.maxTtlSeconds = config.maxTokenTtlSeconds ?? 600;
  }

  /** The room id follows from the meeting, so creating again (a retried request) gives the same room. */
  async createRoom(input: CreateRoomInput): Promise<CreatedRoom> {
    return { roomId: `p2p-${input.meetingId}`, details: { name: input.name, meetingId: input.meetingId } };
  }

  /** Whether anyone was still connected is the signaling server's knowledge; we only tell it to close. */
  async endRoom(roomId: string, options: EndRoomOptions): Promise<EndRoomResult> {
    await this.config.onRoomEnded?.({ roomId, reason: options.reason, lock: options.lock });
    return { alreadyEnded: false };
  }

  async issueJoinCredentials(input: JoinCredentialsInput): Promise<P2pJoinCredentials> {
    const nowMs = this.now();
    if (!(input.expiresAt.getTime() > nowMs)) throw badRequest('Join credentials must expire in the future', 'expiresAt');
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.min(Math.floor(input.expiresAt.getTime() / 1000), iat + this.maxTtlSeconds);
    const token = await new SignJWT({
      room_id: input.roomId,
      meeting_id: input.meetingId,
      user_id: input.userId,
      role: input.role,
      name: input.displayName,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(P2P_TOKEN_ISSUER)
      .setAudience(P2P_TOKEN_AUDIENCE)
      .setSubject(input.participantId)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(await this.key);
    const credentials: P2pJoinCredentials = {
      provider: 'p2p',
      token,
      roomId: input.roomId,
      expiresAt: new Date(exp * 1000).toISOString(),
      participantId: input.participantId,
      role: input.role,
    };
    if (this.config.signalingUrl) credentials.signalingUrl = this.config.signalingUrl;
    return credentials;
  }

  /** Presence for p2p comes from our own signaling server, not from webhooks. */
  async parseWebhook(): Promise<ProviderEvent[]> {
    throw notSupported('The p2p video provider does not receive webhooks');
  }
}
