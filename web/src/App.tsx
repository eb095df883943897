import { Center, Loader, MantineProvider } from '@mantine/core';
import { useEffect, useRef } from 'react';
import type { Api } from './api/index.js';
import { theme, cssVariablesResolver } from './theme.js';
import { RouterProvider, matchPath, useRouter } from './router.js';
import { SessionProvider, useSession } from './session.js';
import { JoinPage } from './pages/join/JoinPage.js';
import { LoginPage } from './pages/practitioner/LoginPage.js';
import { PractitionerApp } from './pages/practitioner/PractitionerApp.js';
import { NotFoundPage } from './pages/NotFoundPage.js';

export function App({ api, initialPath }: { api: Api; initialPath?: string }) {
  return (
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver} defaultColorScheme="light">
      <RouterProvider initialPath={initialPath}>
        <SessionProvider api={api}>
          <Routes />
        </SessionProvider>
      </RouterProvider>
    </MantineProvider>
  );
}

function Routes() {
  const { path } = useRouter();
  useFocusOnNavigation(path);
  const join = matchPath('/join/:code', path);
  if (join) return <JoinPage code={join.code} />;
  if (path === '/' || path === '/login' || path === '/app' || path.startsWith('/app/')) return <SignedInArea />;
  return <NotFoundPage />;
}

/**
 * After an in-app navigation, move the focus to the new page's main heading so keyboard and screen-reader
 * users start at the top of what changed (the first render keeps the browser's own behaviour).
 */
function useFocusOnNavigation(path: string) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = setTimeout(() => {
      const heading = document.querySelector<HTMLElement>('main h1, h1');
      if (!heading) return;
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }, 50);
    return () => clearTimeout(timer);
  }, [path]);
}

/** The practitioner's side: everything behind the sign-in. */
function SignedInArea() {
  const { status } = useSession();
  const { path, navigate } = useRouter();

  useEffect(() => {
    if (status === 'signed-in' && (path === '/' || path === '/login')) navigate('/app', { replace: true });
  }, [status, path, navigate]);

  if (status === 'loading') {
    return (
      <Center h="100dvh" role="status" aria-live="polite">
        <Loader aria-label="Loading your session" />
      </Center>
    );
  }
  if (status === 'signed-out') return <LoginPage />;
  return <PractitionerApp />;
}
