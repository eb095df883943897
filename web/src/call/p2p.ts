import type { P2pCredentials } from '../api/meetings.js';
import { SnapshotStore, initialSnapshot, type CallSession, type StartOptions } from './types.js';

/** Placeholder until the browser client module for the built-in provider is available. */
export async function createP2pSession(_credentials: P2pCredentials, options: StartOptions): Promise<CallSession> {
  const snapshots = new SnapshotStore(initialSnapshot(options));
  return {
    subscribe: snapshots.subscribe,
    getSnapshot: snapshots.get,
    async start() {
      snapshots.set({ state: 'failed', message: 'Video for this clinic is not available yet.' });
    },
    async setMicrophone() {},
    async setCamera() {},
    async leave() {
      snapshots.set({ state: 'left' });
    },
  };
}
