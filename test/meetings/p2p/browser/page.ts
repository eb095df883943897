import { P2pCall, type P2pCallEvents } from '../../../../web/src/p2p/client.js';

/**
 * The smallest page that holds a call with the browser client module: the test reads its state through
 * `window.p2pTest`. The token comes in the URL fragment, which a browser never sends to the server.
 */
const params = new URLSearchParams(location.hash.slice(1));
const log: { event: string; detail: unknown }[] = [];
const call = new P2pCall({ credentials: { token: params.get('token') ?? '' } });

const record =
  <K extends keyof P2pCallEvents>(event: K) =>
  (payload: P2pCallEvents[K]) => {
    const detail = event === 'error' ? { code: (payload as P2pCallEvents['error']).error.code } : event.endsWith('stream-added') ? { peerId: (payload as P2pCallEvents['remote-stream-added']).peer.peerId } : payload;
    log.push({ event, detail: JSON.parse(JSON.stringify(detail, (k, v) => (k === 'stream' ? undefined : v))) });
  };
for (const event of ['state', 'participants', 'lobby', 'ended', 'error', 'remote-stream-added', 'remote-stream-removed'] as const) call.on(event, record(event));

call.on('local-stream', ({ stream }) => {
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.srcObject = stream;
  document.body.append(video);
});
call.on('remote-stream-added', ({ peer, stream }) => {
  const video = document.createElement('video');
  video.id = `remote-${peer.peerId}`;
  video.autoplay = true;
  video.muted = true;
  video.srcObject = stream;
  document.body.append(video);
});

async function framesDecoded(): Promise<Record<string, { video: number; audioPackets: number }>> {
  const out: Record<string, { video: number; audioPackets: number }> = {};
  for (const [peerId, report] of await call.getStats()) {
    const entry = { video: 0, audioPackets: 0 };
    report.forEach((s: { type: string; kind?: string; framesDecoded?: number; packetsReceived?: number }) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') entry.video += s.framesDecoded ?? 0;
      if (s.kind === 'audio') entry.audioPackets += s.packetsReceived ?? 0;
    });
    out[peerId] = entry;
  }
  return out;
}

Object.assign(window, {
  p2pTest: {
    call,
    log,
    framesDecoded,
    state: () => call.state,
    me: () => call.me,
    leave: () => call.leave(),
    setMicrophoneEnabled: (on: boolean) => call.setMicrophoneEnabled(on),
    setCameraEnabled: (on: boolean) => call.setCameraEnabled(on),
    participants: () => call.participants.map(({ stream: _s, ...p }) => p),
  },
});
void call.join();
