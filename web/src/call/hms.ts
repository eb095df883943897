import type { HmsCredentials } from '../api/meetings.js';
import { SnapshotStore, initialSnapshot, type CallPeer, type CallSession, type ConnectionState, type StartOptions } from './types.js';

/** 100ms through its reactive store. Loaded on demand: clinics on the built-in provider never download it. */
export async function createHmsSession(credentials: HmsCredentials, options: StartOptions): Promise<CallSession> {
  const sdk = await import('@100mslive/hms-video-store');
  const hms = new sdk.HMSReactiveStore();
  hms.triggerOnSubscribe();
  const actions = hms.getHMSActions();
  const store = hms.getStore();
  const snapshots = new SnapshotStore(initialSnapshot(options));
  let leftOnPurpose = false;
  const unsubscribers: (() => void)[] = [];

  const stateOf = (room: string): ConnectionState => {
    switch (room) {
      case sdk.HMSRoomState.Connected:
        return 'connected';
      case sdk.HMSRoomState.Reconnecting:
        return 'reconnecting';
      case sdk.HMSRoomState.Failed:
        return 'failed';
      case sdk.HMSRoomState.Disconnected:
        return leftOnPurpose ? 'left' : snapshots.get().state === 'connecting' ? 'connecting' : 'ended';
      default:
        return 'connecting';
    }
  };

  const toPeer = (peer: { id: string; name: string; roleName?: string; videoTrack?: string; audioTrack?: string }): CallPeer => {
    const videoTrack = peer.videoTrack;
    return {
      id: peer.id,
      displayName: peer.name,
      role: peer.roleName,
      audioEnabled: peer.audioTrack ? Boolean(store.getState(sdk.selectIsPeerAudioEnabled(peer.id))) : false,
      videoEnabled: peer.videoTrack ? Boolean(store.getState(sdk.selectIsPeerVideoEnabled(peer.id))) : false,
      attachVideo: videoTrack
        ? (element) => {
            void actions.attachVideo(videoTrack, element);
            return () => void actions.detachVideo(videoTrack, element);
          }
        : undefined,
    };
  };

  const sync = () => {
    const local = store.getState(sdk.selectLocalPeer);
    snapshots.set({
      state: stateOf(store.getState(sdk.selectRoomState)),
      local: local ? toPeer(local) : undefined,
      remotes: store.getState(sdk.selectRemotePeers).map(toPeer),
      micOn: store.getState(sdk.selectIsLocalAudioEnabled),
      cameraOn: store.getState(sdk.selectIsLocalVideoEnabled),
    });
  };

  return {
    subscribe: snapshots.subscribe,
    getSnapshot: snapshots.get,
    async start() {
      unsubscribers.push(store.subscribe(sync, sdk.selectRoomState));
      unsubscribers.push(store.subscribe(sync, sdk.selectPeers));
      unsubscribers.push(store.subscribe(sync, sdk.selectIsLocalAudioEnabled));
      unsubscribers.push(store.subscribe(sync, sdk.selectIsLocalVideoEnabled));
      unsubscribers.push(
        hms.getNotifications().onNotification((n) => {
          if (n.type === sdk.HMSNotificationTypes.ROOM_ENDED || n.type === sdk.HMSNotificationTypes.REMOVED_FROM_ROOM) {
            snapshots.set({ state: 'ended', message: 'The visit has ended.' });
          }
        }),
      );
      try {
        await actions.join({
          userName: options.displayName,
          authToken: credentials.token,
          settings: { isAudioMuted: !options.micOn, isVideoMuted: !options.cameraOn },
          rememberDeviceSelection: false,
        });
      } catch (err) {
        snapshots.set({ state: 'failed', message: (err as Error).message || 'Could not connect to the video service.' });
        throw err;
      }
    },
    async setMicrophone(on) {
      await actions.setLocalAudioEnabled(on);
    },
    async setCamera(on) {
      await actions.setLocalVideoEnabled(on);
    },
    async leave() {
      leftOnPurpose = true;
      try {
        await actions.leave();
      } finally {
        unsubscribers.splice(0).forEach((u) => u());
        snapshots.set({ state: snapshots.get().state === 'ended' ? 'ended' : 'left', remotes: [] });
      }
    },
  };
}
