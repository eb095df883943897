import {
  CloseCode,
  SIGNALING_PATH,
  TERMINAL_CLOSE_CODES,
  isPolite,
  type ClientMessage,
  type IceServerConfig,
  type PeerInfo,
  type ServerMessage,
  type SignalPayload,
} from '../../../src/meetings/p2p/protocol.js';

/**
 * The browser side of the built-in peer-to-peer video provider: one signaling socket to our server, one
 * RTCPeerConnection per other participant (a mesh, for 2–4 people), camera and microphone from
 * getUserMedia. No framework: the UI subscribes to typed events and calls a handful of methods.
 *
 *   const call = new P2pCall({ credentials });          // from POST /api/virtual-meetings/join/:code
 *   call.on('state', ({ state }) => …);                 // connecting → waiting → connected → ended
 *   call.on('remote-stream-added', ({ peer, stream }) => video.srcObject = stream);
 *   await call.join();
 *   call.setMicrophoneEnabled(false); call.leave();
 */

export type { PeerInfo } from '../../../src/meetings/p2p/protocol.js';

export type P2pCallState = 'idle' | 'connecting' | 'waiting' | 'connected' | 'reconnecting' | 'ended';

/** Why the call is over, in terms the UI can pick a message for. */
export type P2pEndReason =
  /** This person left. */
  | 'left'
  /** The meeting was ended for everyone. */
  | 'meeting-ended'
  /** The host removed this person. */
  | 'removed'
  /** The same person joined from another tab or device. */
  | 'replaced'
  /** The join link or token is no longer valid; get new credentials. */
  | 'unauthorized'
  /** The server could not be reached again after several attempts. */
  | 'connection-lost';

export type P2pErrorCode =
  | 'permission-denied'
  | 'no-device'
  | 'device-in-use'
  | 'media-failed'
  | 'signaling'
  | 'peer-connection';

export class P2pCallError extends Error {
  constructor(
    readonly code: P2pErrorCode,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'P2pCallError';
  }
}

export interface RemoteParticipant extends PeerInfo {
  /** What the other side says about its own microphone and camera. */
  audioEnabled: boolean;
  videoEnabled: boolean;
  /** The RTCPeerConnection's state towards this person. */
  connectionState: RTCPeerConnectionState;
  stream?: MediaStream;
}

export interface P2pCallEvents {
  state: { state: P2pCallState; previous: P2pCallState };
  /** The camera/microphone stream to preview locally (muted). */
  'local-stream': { stream: MediaStream };
  'remote-stream-added': { peer: RemoteParticipant; stream: MediaStream };
  'remote-stream-removed': { peerId: string };
  /** Everyone else in the call, after any change. */
  participants: { participants: RemoteParticipant[] };
  /** Host only: who waits in the lobby. */
  lobby: { waiting: PeerInfo[] };
  ended: { reason: P2pEndReason; code: number; message: string };
  error: { error: P2pCallError };
}

/** What the join endpoint returns for the p2p provider (only the token is required). */
export interface P2pCredentialsLike {
  token: string;
  signalingUrl?: string;
}

export interface P2pCallOptions {
  /** Credentials, or a function giving fresh ones: it is called again for each reconnect (tokens are short-lived). */
  credentials: P2pCredentialsLike | (() => Promise<P2pCredentialsLike>);
  /** Defaults to credentials.signalingUrl, then this page's origin. */
  signalingUrl?: string;
  /** What to capture; both on by default. */
  media?: { audio?: boolean | MediaTrackConstraints; video?: boolean | MediaTrackConstraints };
  /** A stream the page already has (e.g. the device preview); the call uses it and does not stop it. */
  localStream?: MediaStream;
  /** Start with the microphone / camera off. */
  microphoneEnabled?: boolean;
  cameraEnabled?: boolean;
  /** Reconnect attempts after the signaling connection drops, before giving up. */
  maxReconnectAttempts?: number;
}

type Listener<T> = (payload: T) => void;

/** A few lines of typed event emitter, so the module has no dependency. */
class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener as Listener<never>);
    this.listeners.set(event, set);
    return () => set.delete(listener as Listener<never>);
  }
  protected emit<K extends keyof E>(event: K, payload: E[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        (l as Listener<E[K]>)(payload);
      } catch (err) {
        console.error(err);
      }
    }
  }
}

const END_REASONS: Record<number, P2pEndReason> = {
  [CloseCode.LEFT]: 'left',
  [CloseCode.MEETING_ENDED]: 'meeting-ended',
  [CloseCode.REMOVED]: 'removed',
  [CloseCode.REPLACED]: 'replaced',
  [CloseCode.UNAUTHORIZED]: 'unauthorized',
};
/** How long a connection may stay "disconnected" before we restart ICE ourselves. */
const DISCONNECTED_GRACE_MS = 3_000;
/** How long a connection may take to connect before we negotiate it again (see PeerLink.watchConnect). */
const CONNECT_GRACE_MS = 8_000;

/**
 * One other participant: the RTCPeerConnection and the perfect-negotiation bookkeeping for it.
 *
 * Who offers first: the participant who arrives (`admitted` with the others listed) offers to each of them,
 * and the one already in the call waits for that offer. Both sides adding their camera at the same moment
 * would otherwise make every call start with two crossing offers, leaving it to the polite side's rollback,
 * which under load can leave a connection that never starts. Perfect negotiation still settles any later
 * collision (ICE restarts on both sides, renegotiation).
 */
class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly polite: boolean;
  makingOffer = false;
  ignoreOffer = false;
  participant: RemoteParticipant;
  /** True until the first offer from the other side arrives (or the wait times out): we do not offer meanwhile. */
  private awaitingOffer: boolean;
  /**
   * Everything received from the other side is applied strictly one after the other. The collision check
   * must see the state that the previous message left, not one that is still being applied.
   */
  private inbox: Promise<void> = Promise.resolve();
  private disconnectedTimer?: ReturnType<typeof setTimeout>;
  private connectTimer?: ReturnType<typeof setTimeout>;
  private closed = false;

  constructor(
    info: PeerInfo,
    selfPeerId: string,
    iceServers: IceServerConfig[],
    /** `offer`: we arrived and start the negotiation; `answer`: the other side does, we wait for its offer. */
    firstMove: 'offer' | 'answer',
    private readonly call: { send(m: ClientMessage): void; changed(link: PeerLink): void; streamAdded(link: PeerLink, s: MediaStream): void; fail(e: P2pCallError): void },
  ) {
    this.polite = isPolite(selfPeerId, info.peerId);
    this.awaitingOffer = firstMove === 'answer';
    this.participant = { ...info, audioEnabled: true, videoEnabled: true, connectionState: 'new' };
    this.pc = new RTCPeerConnection({ iceServers });
    this.pc.onnegotiationneeded = () => {
      // The offer we wait for covers our tracks too: its answer carries them.
      if (!this.awaitingOffer) void this.negotiate();
    };
    this.pc.onicecandidate = ({ candidate }) => this.signal({ candidate: candidate ? candidate.toJSON() : null });
    this.pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] ?? this.participant.stream ?? new MediaStream();
      if (!streams[0] && !stream.getTracks().includes(track)) stream.addTrack(track);
      if (this.participant.stream !== stream) {
        this.participant = { ...this.participant, stream };
        this.call.streamAdded(this, stream);
      }
    };
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      this.participant = { ...this.participant, connectionState: state };
      this.call.changed(this);
      clearTimeout(this.disconnectedTimer);
      if (state === 'connected') clearTimeout(this.connectTimer);
      // "failed" will not heal by itself; "disconnected" often does (a brief Wi-Fi hiccup), so give it a moment.
      if (state === 'failed') this.restartIce();
      else if (state === 'disconnected') this.disconnectedTimer = setTimeout(() => this.restartIce(), DISCONNECTED_GRACE_MS);
    };
    this.watchConnect();
  }

  signal(data: SignalPayload): void {
    this.call.send({ type: 'signal', to: this.participant.peerId, data });
  }

  /** Either side may start: when both offer at once, the polite side rolls back (perfect negotiation). */
  private async negotiate(): Promise<void> {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      if (this.pc.localDescription) this.signal({ description: this.pc.localDescription.toJSON() as SignalPayload['description'] });
    } catch (err) {
      if (!this.closed) this.call.fail(new P2pCallError('peer-connection', 'Could not start the connection to the other participant', err));
    } finally {
      this.makingOffer = false;
    }
  }

  receive(data: SignalPayload): void {
    this.inbox = this.inbox.then(() => this.apply(data));
  }

  private async apply(data: SignalPayload): Promise<void> {
    if (this.closed) return;
    if (data.media) {
      this.participant = { ...this.participant, audioEnabled: data.media.audio, videoEnabled: data.media.video };
      this.call.changed(this);
    }
    try {
      if (data.description) {
        const description = data.description as RTCSessionDescriptionInit;
        const collision = description.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await this.pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          await this.pc.setLocalDescription();
          if (this.pc.localDescription) this.signal({ description: this.pc.localDescription.toJSON() as SignalPayload['description'] });
          if (this.awaitingOffer) {
            this.awaitingOffer = false;
            // The negotiationneeded we let pass is not fired again: offer ourselves if the answer left a track out.
            if (this.pc.getTransceivers().some((t) => t.sender.track && !t.currentDirection?.startsWith('send'))) void this.negotiate();
          }
        }
      } else if (data.candidate !== undefined) {
        try {
          await this.pc.addIceCandidate(data.candidate ?? undefined);
        } catch (err) {
          // Candidates of an offer we chose to ignore are expected to fail.
          if (!this.ignoreOffer) throw err;
        }
      }
    } catch (err) {
      if (!this.closed) this.call.fail(new P2pCallError('peer-connection', 'The connection to the other participant could not be negotiated', err));
    }
  }

  /**
   * If the connection has not connected in time, negotiate again with fresh ICE candidates: a candidate or a
   * description lost on the way (a signaling server restarting, a relay between servers reconnecting) would
   * otherwise leave it "new" forever. An offer of ours that was never answered is taken back first.
   */
  private watchConnect(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.closed || this.pc.connectionState === 'connected') return;
      // ICE is checking: it either connects or fails, and "failed" restarts it.
      if (this.pc.connectionState === 'connecting') return this.watchConnect();
      this.awaitingOffer = false;
      this.inbox = this.inbox.then(async () => {
        if (this.closed || this.pc.connectionState === 'connected') return;
        if (this.pc.signalingState === 'have-local-offer') await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
        this.restartIce();
        this.watchConnect();
      });
    }, CONNECT_GRACE_MS);
  }

  restartIce(): void {
    if (this.closed) return;
    // Fires negotiationneeded with an ICE-restart offer; perfect negotiation takes it from there.
    this.awaitingOffer = false;
    this.pc.restartIce();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.connectTimer);
    this.pc.onnegotiationneeded = this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
    this.pc.close();
  }
}

export class P2pCall extends Emitter<P2pCallEvents> {
  private _state: P2pCallState = 'idle';
  private socket?: WebSocket;
  private self?: PeerInfo;
  private iceServers: IceServerConfig[] = [];
  private readonly links = new Map<string, PeerLink>();
  private localStream?: MediaStream;
  private ownsLocalStream = false;
  private micOn: boolean;
  private cameraOn: boolean;
  private reconnectAttempts = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private readonly onNetworkChange = () => this.networkChanged();

  constructor(private readonly options: P2pCallOptions) {
    super();
    this.micOn = options.microphoneEnabled ?? true;
    this.cameraOn = options.cameraEnabled ?? true;
  }

  get state(): P2pCallState {
    return this._state;
  }
  /** This connection as the others see it, once the server has welcomed us. */
  get me(): PeerInfo | undefined {
    return this.self;
  }
  get participants(): RemoteParticipant[] {
    return [...this.links.values()].map((l) => l.participant);
  }
  get stream(): MediaStream | undefined {
    return this.localStream;
  }
  get microphoneEnabled(): boolean {
    return this.micOn;
  }
  get cameraEnabled(): boolean {
    return this.cameraOn;
  }

  /**
   * Gets camera and microphone (a missing or refused device is reported as an `error` event and the call goes
   * on without it), then connects. Resolves once the socket is open and authenticated.
   */
  async join(): Promise<void> {
    if (this._state !== 'idle') throw new Error('join() can only be called once');
    this.setState('connecting');
    await this.acquireMedia();
    window.addEventListener('online', this.onNetworkChange);
    (navigator as Navigator & { connection?: EventTarget }).connection?.addEventListener('change', this.onNetworkChange);
    await this.connect();
  }

  setMicrophoneEnabled(on: boolean): void {
    this.micOn = on;
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = on;
    this.broadcastMedia();
  }

  /** Off sends black frames rather than renegotiating, so turning it back on is instant. */
  setCameraEnabled(on: boolean): void {
    this.cameraOn = on;
    for (const t of this.localStream?.getVideoTracks() ?? []) t.enabled = on;
    this.broadcastMedia();
  }

  /** Host only: let someone in from the lobby (when the server waits for the host's word). */
  admit(participantId: string): void {
    this.send({ type: 'admit', participantId });
  }

  /** Host only: remove someone from the meeting; they cannot rejoin with the same credentials. */
  remove(participantId: string): void {
    this.send({ type: 'remove', participantId });
  }

  leave(): void {
    if (this._state === 'ended') return;
    this.send({ type: 'leave' });
    this.finish('left', CloseCode.LEFT, 'You left the call');
  }

  /** Per participant, the connection's stats (e.g. inbound-rtp framesDecoded to tell that video arrives). */
  async getStats(): Promise<Map<string, RTCStatsReport>> {
    const out = new Map<string, RTCStatsReport>();
    for (const [peerId, link] of this.links) out.set(peerId, await link.pc.getStats());
    return out;
  }

  private async acquireMedia(): Promise<void> {
    if (this.options.localStream) {
      this.localStream = this.options.localStream;
    } else {
      const wanted = { audio: this.options.media?.audio ?? true, video: this.options.media?.video ?? true };
      this.localStream = await this.getUserMedia(wanted);
      // Without a camera (or with it refused) a visit can still go ahead on audio.
      if (!this.localStream && wanted.video && wanted.audio) this.localStream = await this.getUserMedia({ audio: wanted.audio, video: false });
      this.ownsLocalStream = !!this.localStream;
    }
    if (this.localStream) {
      for (const t of this.localStream.getAudioTracks()) t.enabled = this.micOn;
      for (const t of this.localStream.getVideoTracks()) t.enabled = this.cameraOn;
      this.emit('local-stream', { stream: this.localStream });
    }
  }

  private async getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream | undefined> {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.emit('error', { error: new P2pCallError('media-failed', 'This browser cannot use a camera here (a secure https page is required)') });
      return undefined;
    }
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      const name = (err as { name?: string }).name;
      const error =
        name === 'NotAllowedError' || name === 'SecurityError'
          ? new P2pCallError('permission-denied', 'Camera or microphone access was denied. Allow it in the browser settings to be seen and heard.', err)
          : name === 'NotFoundError' || name === 'OverconstrainedError'
            ? new P2pCallError('no-device', 'No camera or microphone was found.', err)
            : name === 'NotReadableError' || name === 'AbortError'
              ? new P2pCallError('device-in-use', 'The camera or microphone is in use by another application.', err)
              : new P2pCallError('media-failed', 'The camera or microphone could not be started.', err);
      this.emit('error', { error });
      return undefined;
    }
  }

  private async connect(): Promise<void> {
    let credentials: P2pCredentialsLike;
    try {
      credentials = typeof this.options.credentials === 'function' ? await this.options.credentials() : this.options.credentials;
    } catch (err) {
      this.emit('error', { error: new P2pCallError('signaling', 'Could not get credentials to join the call', err) });
      return this.scheduleReconnect();
    }
    const url = this.options.signalingUrl ?? credentials.signalingUrl ?? defaultSignalingUrl();
    const socket = new WebSocket(url);
    this.socket = socket;
    await new Promise<void>((resolve) => {
      socket.onopen = () => {
        // The token goes in the first message, not the URL, so it stays out of proxies' access logs.
        socket.send(JSON.stringify({ type: 'auth', token: credentials.token } satisfies ClientMessage));
        resolve();
      };
      socket.onmessage = (e) => this.onMessage(JSON.parse(String(e.data)) as ServerMessage);
      socket.onclose = (e) => {
        resolve();
        this.onClose(socket, e.code, e.reason);
      };
    });
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.self = message.self;
        this.iceServers = message.iceServers;
        this.reconnectAttempts = 0;
        return;
      case 'waiting':
        return this.setState('waiting');
      case 'admitted':
        this.setState('connected');
        // We are the newcomer: we offer to everyone already in the call.
        for (const peer of message.peers) this.addLink(peer, 'offer');
        return this.emitParticipants();
      case 'peer-joined':
        // The newcomer offers; we answer.
        this.addLink(message.peer, 'answer');
        return this.emitParticipants();
      case 'peer-left':
        this.dropLink(message.peerId);
        return this.emitParticipants();
      case 'lobby':
        return this.emit('lobby', { waiting: message.waiting });
      case 'signal':
        this.links.get(message.from)?.receive(message.data);
        return;
      case 'error':
        // A candidate for someone who just left is a normal race, not worth telling anyone about.
        if (message.code !== 'unknown-peer') this.emit('error', { error: new P2pCallError('signaling', message.message) });
        return;
    }
  }

  private addLink(peer: PeerInfo, firstMove: 'offer' | 'answer'): void {
    if (!this.self || this.links.has(peer.peerId)) return;
    const link = new PeerLink(peer, this.self.peerId, this.iceServers, firstMove, {
      send: (m) => this.send(m),
      changed: () => this.emitParticipants(),
      streamAdded: (l, stream) => this.emit('remote-stream-added', { peer: l.participant, stream }),
      fail: (error) => this.emit('error', { error }),
    });
    this.links.set(peer.peerId, link);
    const tracks = this.localStream?.getTracks() ?? [];
    for (const track of tracks) link.pc.addTrack(track, this.localStream!);
    // Receive what we do not send, so a participant without a camera still sees the others.
    for (const kind of ['audio', 'video'] as const) {
      if (!tracks.some((t) => t.kind === kind)) link.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    link.signal({ media: { audio: this.micOn, video: this.cameraOn } });
  }

  private dropLink(peerId: string): void {
    const link = this.links.get(peerId);
    if (!link) return;
    link.close();
    this.links.delete(peerId);
    if (link.participant.stream) this.emit('remote-stream-removed', { peerId });
  }

  private dropAllLinks(): void {
    for (const peerId of [...this.links.keys()]) this.dropLink(peerId);
    this.emitParticipants();
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket || this._state === 'ended') return;
    this.socket = undefined;
    this.dropAllLinks();
    if (TERMINAL_CLOSE_CODES.includes(code)) return this.finish(END_REASONS[code] ?? 'left', code, reason);
    this.scheduleReconnect();
  }

  /** The server went away (restart, network change): come back with fresh credentials, a little later each time. */
  private scheduleReconnect(): void {
    if (this._state === 'ended') return;
    const max = this.options.maxReconnectAttempts ?? 8;
    if (this.reconnectAttempts >= max) return this.finish('connection-lost', CloseCode.SERVER_GOING_AWAY, 'The connection to the server was lost');
    this.setState('reconnecting');
    const delay = Math.min(10_000, 250 * 2 ** this.reconnectAttempts) * (0.75 + Math.random() / 2);
    this.reconnectAttempts++;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private networkChanged(): void {
    if (this._state === 'ended') return;
    if (!this.socket || this.socket.readyState > WebSocket.OPEN) {
      clearTimeout(this.reconnectTimer);
      this.reconnectAttempts = 0;
      void this.connect();
    }
    // Our address may have changed: new candidates are needed on every connection.
    for (const link of this.links.values()) link.restartIce();
  }

  private finish(reason: P2pEndReason, code: number, message: string): void {
    if (this._state === 'ended') return;
    clearTimeout(this.reconnectTimer);
    window.removeEventListener('online', this.onNetworkChange);
    (navigator as Navigator & { connection?: EventTarget }).connection?.removeEventListener('change', this.onNetworkChange);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(CloseCode.LEFT, 'left');
    this.dropAllLinks();
    if (this.ownsLocalStream) for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.setState('ended');
    this.emit('ended', { reason, code, message });
  }

  private broadcastMedia(): void {
    for (const link of this.links.values()) link.signal({ media: { audio: this.micOn, video: this.cameraOn } });
  }

  private send(message: ClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private emitParticipants(): void {
    this.emit('participants', { participants: this.participants });
  }

  private setState(state: P2pCallState): void {
    if (state === this._state) return;
    const previous = this._state;
    this._state = state;
    this.emit('state', { state, previous });
  }
}

function defaultSignalingUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}${SIGNALING_PATH}`;
}
