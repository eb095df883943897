import type { JoinCredentials } from '../api/meetings.js';
import type { CallSession, StartOptions } from './types.js';

/** Picks the browser side of the meeting's video provider. */
export async function createCallSession(credentials: JoinCredentials, options: StartOptions): Promise<CallSession> {
  if (credentials.provider === '100ms') {
    const { createHmsSession } = await import('./hms.js');
    return createHmsSession(credentials, options);
  }
  const { createP2pSession } = await import('./p2p.js');
  return createP2pSession(credentials, options);
}

export type { CallSession, CallSnapshot, CallPeer, ConnectionState, StartOptions } from './types.js';
