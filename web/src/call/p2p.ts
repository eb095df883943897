import type { JoinCredentials, P2pCredentials } from '../api/meetings.js';
import { P2pCall, type P2pEndReason, type RemoteParticipant } from '../p2p/client.js';
import { SnapshotStore, initialSnapshot, type CallPeer, type CallSession, type CallSnapshot, type StartOptions } from './types.js';

const endMessages: Record<P2pEndReason, { state: CallSnapshot['state']; message?: string }> = {
  left: { state: 'left' },
  'meeting-ended': { state: 'ended', message: 'The visit has ended.' },
  removed: { state: 'ended', message: 'The clinician removed you from the visit.' },
  replaced: { state: 'failed', message: 'You joined this visit from another tab or device, so this page was disconnected.' },
  unauthorized: { state: 'failed', message: 'Your access to this visit has expired. Open the link again to rejoin.' },
  'connection-lost': { state: 'failed', message: 'The connection was lost and could not be restored. Check your internet connection and join again.' },
};

function toPeer(p: RemoteParticipant): CallPeer {
  return { id: p.peerId, displayName: p.displayName, role: p.role, audioEnabled: p.audioEnabled, videoEnabled: p.videoEnabled, stream: p.stream };
}

/** The built-in peer-to-peer provider, through its browser client module. */
export async function createP2pSession(credentials: P2pCredentials, options: StartOptions): Promise<CallSession> {
  const snapshots = new SnapshotStore(initialSnapshot(options));
  let first = true;
  const call = new P2pCall({
    // The first connection uses the credentials just issued; every reconnect asks for fresh ones.
    credentials: async () => {
      if (first || !options.refreshCredentials) {
        first = false;
        return credentials;
      }
      const fresh: JoinCredentials = await options.refreshCredentials();
      return fresh;
    },
    signalingUrl: credentials.signalingUrl,
    microphoneEnabled: options.micOn,
    cameraEnabled: options.cameraOn,
  });

  const syncRemotes = () => snapshots.set({ remotes: call.participants.map(toPeer) });

  call.on('state', ({ state }) => {
    // 'ended' is reported with its reason by the 'ended' event.
    if (state === 'ended') return;
    snapshots.set({ state: state === 'idle' ? 'connecting' : state });
  });
  call.on('local-stream', ({ stream }) => {
    snapshots.set({
      local: {
        id: call.me?.peerId ?? 'local',
        displayName: options.displayName,
        audioEnabled: call.microphoneEnabled,
        videoEnabled: call.cameraEnabled && stream.getVideoTracks().length > 0,
        stream,
      },
      cameraOn: call.cameraEnabled && stream.getVideoTracks().length > 0,
      micOn: call.microphoneEnabled && stream.getAudioTracks().length > 0,
    });
  });
  call.on('participants', syncRemotes);
  call.on('remote-stream-added', syncRemotes);
  call.on('remote-stream-removed', syncRemotes);
  call.on('lobby', ({ waiting }) => snapshots.set({ waiting: waiting.map((w) => ({ id: w.participantId, displayName: w.displayName, role: w.role })) }));
  call.on('error', ({ error }) => snapshots.set({ notice: error.message }));
  call.on('ended', ({ reason }) => {
    const end = endMessages[reason];
    snapshots.set({ state: end.state, message: end.message, remotes: [] });
  });

  return {
    subscribe: snapshots.subscribe,
    getSnapshot: snapshots.get,
    async start() {
      await call.join();
    },
    async setMicrophone(on) {
      call.setMicrophoneEnabled(on);
      snapshots.set({ micOn: on });
    },
    async setCamera(on) {
      call.setCameraEnabled(on);
      snapshots.set({ cameraOn: on });
    },
    async leave() {
      call.leave();
    },
    async remove(participantId) {
      call.remove(participantId);
    },
  };
}
