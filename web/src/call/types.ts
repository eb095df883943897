import type { JoinCredentials } from '../api/meetings.js';

/**
 * What the call screen needs from a video provider, whichever it is. Each provider's browser SDK sits behind
 * this one small interface (p2p: our own client module; 100ms: hms-video-store), so the screen has one code path.
 */

export type ConnectionState =
  /** Opening the connection. */
  | 'connecting'
  /** In the lobby: the host has not let this person in yet. */
  | 'waiting'
  | 'connected'
  /** The network dropped; the SDK is trying to get back. */
  | 'reconnecting'
  /** This person left (they can rejoin). */
  | 'left'
  /** The meeting was ended for everyone. */
  | 'ended'
  | 'failed';

export interface CallPeer {
  id: string;
  displayName: string;
  role?: string;
  audioEnabled: boolean;
  videoEnabled: boolean;
  /** Providers that hand out streams set this… */
  stream?: MediaStream;
  /** …and providers that attach tracks to elements themselves set this; it returns the detach function. */
  attachVideo?: (element: HTMLVideoElement) => () => void;
}

export interface WaitingPerson {
  id: string;
  displayName: string;
  role?: string;
}

export interface CallSnapshot {
  state: ConnectionState;
  local?: CallPeer;
  remotes: CallPeer[];
  /** People in the lobby; only the host sees them. */
  waiting: WaitingPerson[];
  micOn: boolean;
  cameraOn: boolean;
  /** Why the call ended or failed, in words for a person. */
  message?: string;
  /** A problem that does not end the call (a refused camera), in words for a person. */
  notice?: string;
}

export interface CallSession {
  subscribe(listener: () => void): () => void;
  getSnapshot(): CallSnapshot;
  start(): Promise<void>;
  setMicrophone(on: boolean): Promise<void>;
  setCamera(on: boolean): Promise<void>;
  leave(): Promise<void>;
  /** Host only, when the provider supports it. */
  admit?(id: string): Promise<void>;
  remove?(id: string): Promise<void>;
}

export interface StartOptions {
  displayName: string;
  micOn: boolean;
  cameraOn: boolean;
  /** Fresh credentials for a reconnect (join tokens are short-lived). */
  refreshCredentials?: () => Promise<JoinCredentials>;
}

/** A tiny observable for adapters: immutable snapshots, as useSyncExternalStore expects. */
export class SnapshotStore {
  private snapshot: CallSnapshot;
  private readonly listeners = new Set<() => void>();

  constructor(initial: CallSnapshot) {
    this.snapshot = initial;
  }

  get = (): CallSnapshot => this.snapshot;

  set(patch: Partial<CallSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const l of this.listeners) l();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}

export const initialSnapshot = (opts: { micOn: boolean; cameraOn: boolean }): CallSnapshot => ({
  state: 'connecting',
  remotes: [],
  waiting: [],
  micOn: opts.micOn,
  cameraOn: opts.cameraOn,
});
