import { useEffect, useState } from 'react';
import type { JoinCredentials } from '../api/meetings.js';
import { createCallSession } from './index.js';
import type { CallSession, StartOptions } from './types.js';

/**
 * Opens the call for issued credentials and leaves it when the component goes away. `credentials` must be a
 * new object for every join (a rejoin gets fresh ones), which is what restarts the session.
 */
export function useCallSession(credentials: JoinCredentials | undefined, options: StartOptions): { session?: CallSession; error?: Error } {
  const [session, setSession] = useState<CallSession>();
  const [error, setError] = useState<Error>();
  const { displayName, micOn, cameraOn, refreshCredentials } = options;

  useEffect(() => {
    if (!credentials) return;
    let current: CallSession | undefined;
    let cancelled = false;
    setError(undefined);
    createCallSession(credentials, { displayName, micOn, cameraOn, refreshCredentials })
      .then(async (s) => {
        if (cancelled) return;
        current = s;
        setSession(s);
        await s.start();
      })
      .catch((err: Error) => !cancelled && setError(err));
    return () => {
      cancelled = true;
      setSession(undefined);
      void current?.leave().catch(() => undefined);
    };
    // Options are read once per join; changing the switches afterwards goes through the session.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [credentials]);

  return { session, error };
}
