import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Api } from './api/index.js';
import type { Session } from './api/auth.js';
import { browserTimeZone } from './lib/time.js';

/**
 * Who is signed in. The access token stays inside the API client's memory; the only thing kept in storage
 * is a flag saying "there may be a refresh cookie", so a first visit does not probe /auth/refresh for nothing.
 */
const SIGNED_IN_HINT = 'telehealth.signedIn';

type Status = 'loading' | 'signed-out' | 'signed-in';

interface SessionValue {
  api: Api;
  status: Status;
  session?: Session;
  signIn(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<SessionValue | undefined>(undefined);
const ApiContext = createContext<Api | undefined>(undefined);

function hint(): boolean {
  try {
    return window.localStorage.getItem(SIGNED_IN_HINT) === '1';
  } catch {
    return false;
  }
}

function setHint(on: boolean): void {
  try {
    if (on) window.localStorage.setItem(SIGNED_IN_HINT, '1');
    else window.localStorage.removeItem(SIGNED_IN_HINT);
  } catch {
    // Private mode without storage: the user signs in again after a reload, nothing worse.
  }
}

export function SessionProvider({ api, children }: { api: Api; children: ReactNode }) {
  const [status, setStatus] = useState<Status>(() => (api.http.hasAccessToken() || hint() ? 'loading' : 'signed-out'));
  const [session, setSession] = useState<Session>();

  useEffect(() => {
    if (status !== 'loading') return;
    let cancelled = false;
    api.auth
      .me(browserTimeZone())
      .then((s) => {
        if (cancelled) return;
        setSession(s);
        setStatus('signed-in');
      })
      .catch(() => {
        if (cancelled) return;
        setHint(false);
        setStatus('signed-out');
      });
    return () => {
      cancelled = true;
    };
  }, [api, status]);

  useEffect(
    () =>
      api.http.onSessionLost(() => {
        setHint(false);
        setSession(undefined);
        setStatus('signed-out');
      }),
    [api],
  );

  const signIn = useCallback(
    async (email: string, password: string) => {
      await api.auth.login(email, password);
      const s = await api.auth.me(browserTimeZone());
      setHint(true);
      setSession(s);
      setStatus('signed-in');
    },
    [api],
  );

  const signOut = useCallback(async () => {
    try {
      await api.auth.logout();
    } finally {
      setHint(false);
      setSession(undefined);
      setStatus('signed-out');
    }
  }, [api]);

  const value = useMemo(() => ({ api, status, session, signIn, signOut }), [api, status, session, signIn, signOut]);
  return (
    <ApiContext.Provider value={api}>
      <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
    </ApiContext.Provider>
  );
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

export function useApi(): Api {
  const value = useContext(ApiContext);
  if (!value) throw new Error('useApi outside SessionProvider');
  return value;
}

/** The signed-in session; only for pages behind the sign-in gate. */
export function useSignedIn(): Session {
  const { session } = useSession();
  if (!session) throw new Error('useSignedIn without a session');
  return session;
}
