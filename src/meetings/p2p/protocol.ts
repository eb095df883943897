/**
 * The signaling protocol between browsers and the product's signaling server, as JSON text frames. This file
 * has no imports so the browser client can share it as is: both sides compile against the same types.
 *
 * A session: the browser opens the socket (the join token either in `?token=` or in a first `auth` message,
 * which keeps it out of access logs) → `welcome` → `waiting` (lobby) or `admitted` → `signal`s to and from the
 * other admitted peers → the socket closes with one of the codes below.
 */

export const SIGNALING_PATH = '/api/virtual-meetings/signal';

/** Close codes the server uses; 4xxx are the product's own, chosen to echo the matching HTTP status. */
export const CloseCode = {
  /** Normal end: the participant left. */
  LEFT: 1000,
  /** The server is shutting down or restarting: reconnect with fresh credentials. */
  SERVER_GOING_AWAY: 1001,
  INTERNAL_ERROR: 1011,
  /** A frame that is not a valid message of this protocol. */
  PROTOCOL_ERROR: 4400,
  /** Missing, forged, expired or foreign join token. Do not retry with the same token. */
  UNAUTHORIZED: 4401,
  /** The host removed this participant; the same credentials cannot join again. */
  REMOVED: 4403,
  /** No join token arrived in time. */
  AUTH_TIMEOUT: 4408,
  /** The same participant connected again elsewhere (another tab or a reconnect); this socket is stale. */
  REPLACED: 4409,
  /** The meeting has ended; nobody can join any more. */
  MEETING_ENDED: 4410,
  /** This server lost contact with the others and dropped its sessions: reconnect. */
  RESET: 4503,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which reconnecting cannot help. */
export const TERMINAL_CLOSE_CODES: readonly number[] = [
  CloseCode.LEFT,
  CloseCode.UNAUTHORIZED,
  CloseCode.REMOVED,
  CloseCode.REPLACED,
  CloseCode.MEETING_ENDED,
];

export type SignalingRole = 'host' | 'patient' | 'guest';

/** What others see of a participant. `peerId` names one connection; a reconnect gets a new one. */
export interface PeerInfo {
  peerId: string;
  participantId: string;
  role: SignalingRole;
  displayName: string;
}

/** An RTCIceServer, as the browser takes it. */
export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/**
 * What peers exchange through the server. The server relays it untouched, only between admitted peers of one
 * meeting; `description` and `candidate` are the JSON forms of RTCSessionDescription and RTCIceCandidate.
 */
export interface SignalPayload {
  description?: { type: 'offer' | 'answer' | 'pranswer' | 'rollback'; sdp?: string };
  candidate?: { candidate?: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null } | null;
  /** The sender's microphone and camera state, for the other side's UI. */
  media?: { audio: boolean; video: boolean };
}

export type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'signal'; to: string; data: SignalPayload }
  /** Host only. */
  | { type: 'remove'; participantId: string }
  /** Host only: let someone in from the lobby (needed when the server admits on the host's word only). */
  | { type: 'admit'; participantId: string }
  | { type: 'leave' };

export type ServerMessage =
  | {
      type: 'welcome';
      self: PeerInfo;
      roomId: string;
      meetingId: string;
      iceServers: IceServerConfig[];
    }
  /** In the lobby until a host is in the meeting. */
  | { type: 'waiting' }
  /**
   * In the call. Perfect negotiation: with each peer, the side whose peerId sorts first is the polite one
   * (it yields when both offer at once); both sides may start negotiating.
   */
  | { type: 'admitted'; peers: PeerInfo[] }
  | { type: 'peer-joined'; peer: PeerInfo }
  | { type: 'peer-left'; peerId: string; participantId: string; reason: string }
  /** To hosts: who is in the lobby now (sent whenever it changes). */
  | { type: 'lobby'; waiting: PeerInfo[] }
  | { type: 'signal'; from: string; data: SignalPayload }
  /** A refused request that does not end the session (e.g. a signal to someone no longer present). */
  | { type: 'error'; code: 'not-admitted' | 'unknown-peer' | 'forbidden' | 'bad-message'; message: string };

/** The polite side of a pair yields when both send offers at once; exactly one side of each pair is polite. */
export function isPolite(selfPeerId: string, otherPeerId: string): boolean {
  return selfPeerId < otherPeerId;
}
