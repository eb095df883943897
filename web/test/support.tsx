import { MantineProvider } from '@mantine/core';
import { cleanup, configure } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, vi } from 'vitest';
import { createApi, type Api } from '../src/api/index.js';
import { RouterProvider } from '../src/router.js';
import { SessionProvider } from '../src/session.js';
import { theme } from '../src/theme.js';

/** What jsdom lacks and Mantine uses. */
export function installDomShims(): void {
  if (!window.matchMedia) {
    window.matchMedia = ((query: string) => ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    })) as typeof window.matchMedia;
  }
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
  Element.prototype.scrollIntoView ??= () => undefined;
  window.scrollTo = (() => undefined) as typeof window.scrollTo;
  HTMLMediaElement.prototype.play = () => Promise.resolve();
}

installDomShims();
// The machine is shared with other test runs; give asynchronous screens time rather than flake.
configure({ asyncUtilTimeout: 5000 });
afterEach(() => {
  cleanup();
  window.localStorage.clear();
});

export type Handler = (request: { method: string; url: URL; body: unknown; headers: Record<string, string> }) =>
  | { status?: number; body?: unknown }
  | undefined;

/** A fetch that answers from a list of handlers (first match wins) and records every request. */
export function fakeServer(...handlers: Handler[]) {
  const requests: { method: string; path: string; body: unknown; headers: Record<string, string> }[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://clinic.test');
    const method = init.method ?? 'GET';
    const headers = (init.headers ?? {}) as Record<string, string>;
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    requests.push({ method, path: url.pathname + url.search, body, headers });
    for (const h of handlers) {
      const answer = h({ method, url, body, headers });
      if (answer) {
        const status = answer.status ?? 200;
        return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
          status,
          headers: { 'Content-Type': 'application/json' },
        });
      }
    }
    return new Response(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: `No route for ${method} ${url.pathname}` }] }), { status: 404 });
  });
  return { fetch, requests, api: createApi({ fetch: fetch as unknown as typeof globalThis.fetch }) };
}

export function route(method: string, path: string | RegExp, answer: (url: URL, body: unknown) => { status?: number; body?: unknown }): Handler {
  return ({ method: m, url, body }) => {
    if (m !== method) return undefined;
    const ok = typeof path === 'string' ? url.pathname === path : path.test(url.pathname);
    return ok ? answer(url, body) : undefined;
  };
}

export function outcome(status: number, code: string, diagnostics: string) {
  return { status, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] } };
}

export function Providers({ api, path = '/', children }: { api: Api; path?: string; children: ReactNode }) {
  window.history.replaceState(null, '', path);
  return (
    <MantineProvider theme={theme} env="test">
      <RouterProvider initialPath={path}>
        <SessionProvider api={api}>{children}</SessionProvider>
      </RouterProvider>
    </MantineProvider>
  );
}
