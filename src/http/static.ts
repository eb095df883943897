import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';

/**
 * Serves the web app (the Vite build in `dist/web`) at `/`. The app routes in the browser, so its page
 * addresses all answer with index.html; files that do not exist (and every API, FHIR or auth path, which
 * are never listed here) fall through to the server's normal 404.
 */

/** Addresses the browser app handles itself. API prefixes (/api, /fhir, /auth, /oauth2, /healthz) are not among them. */
export const CLIENT_ROUTES = ['/', '/login', '/app', '/app/*', '/join/*'] as const;

export interface WebAppOptions {
  /** The directory holding index.html and assets/. */
  root: string;
}

/** Where `vite build --config web/vite.config.ts` writes the app, relative to the working directory. */
export function defaultWebRoot(cwd: string = process.cwd()): string {
  return join(cwd, 'dist', 'web');
}

export function webAppBuilt(root: string): boolean {
  return existsSync(join(root, 'index.html'));
}

export const webApp: FastifyPluginAsync<WebAppOptions> = async (app, options) => {
  await app.register(fastifyStatic, {
    root: options.root,
    prefix: '/',
    index: false,
    wildcard: true,
    // Built assets carry a content hash in their name: cache them for good. Everything else is revalidated.
    setHeaders(reply, path) {
      reply.header('Cache-Control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  for (const url of CLIENT_ROUTES) {
    app.get(url, (_request, reply) => reply.header('Cache-Control', 'no-cache').sendFile('index.html'));
  }
};
