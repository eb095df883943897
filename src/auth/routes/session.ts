import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { badRequest, unauthorized } from '../../fhir/outcomes.js';
import { requirePrincipal } from '../../http/principal.js';
import { accounts, scopesForRole, sessions, type UserAccount } from '../accounts.js';
import { verifyAgainstNothing, verifySecret } from '../passwords.js';
import { grantScopes, splitScopes } from '../scopes.js';
import type { AuthService } from '../service.js';

export const REFRESH_COOKIE = 'refresh_token';
const SESSION_SECONDS = 14 * 24 * 3600;

const loginBody = z.object({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  /** optional narrower scopes than the role allows */
  scope: z.string().max(2000).optional(),
});

/**
 * Sign-in for people (the web app): a short-lived access token in the answer and a rotating refresh token in
 * an httpOnly, SameSite=Strict cookie that only the /auth endpoints receive.
 */
export function sessionRoutes(app: FastifyInstance, auth: AuthService, rateLimit: { max: number; timeWindow: string }): void {
  const secureCookie = auth.config.publicBaseUrl.startsWith('https:');
  const setRefreshCookie = (reply: FastifyReply, token: string) =>
    reply.setCookie(REFRESH_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: secureCookie, path: '/auth', maxAge: SESSION_SECONDS });
  const clearRefreshCookie = (reply: FastifyReply) =>
    reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', secure: secureCookie, path: '/auth' });

  const issueFor = async (user: UserAccount, sessionId: string, requested?: string[]) => {
    const scopes = grantScopes(scopesForRole(user.role), requested);
    const issued = await auth.tokens.issue(
      { orgId: user.orgId, kind: 'user', subject: user.id, role: user.role, fhirUser: user.fhirUser, displayName: user.displayName, scopes },
      { sessionId },
    );
    return {
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: scopes.join(' '),
      user: publicUser(user),
    };
  };

  app.post('/auth/login', { config: { rateLimit } }, async (request, reply) => {
    const parsed = loginBody.safeParse(request.body);
    if (!parsed.success) throw badRequest('Send {"email": …, "password": …}');
    const { email, password, scope } = parsed.data;
    const user = await accounts.findUserForLogin(auth.db, email);
    const ok = user ? await verifySecret(password, user.passwordHash) : await verifyAgainstNothing(password);
    // One answer for unknown email, wrong password and disabled account: nothing to learn by probing.
    if (!user || !ok || user.disabled) throw unauthorized('Wrong email or password');
    const { sessionId, refreshToken } = await sessions.start(auth.db, user, SESSION_SECONDS);
    setRefreshCookie(reply, refreshToken);
    return reply.header('cache-control', 'no-store').send(await issueFor(user, sessionId, scope ? splitScopes(scope) : undefined));
  });

  app.post('/auth/refresh', { config: { rateLimit } }, async (request, reply) => {
    const presented = request.cookies[REFRESH_COOKIE];
    if (!presented) throw unauthorized('No refresh token');
    const result = await auth.db.transaction((tx) => sessions.rotate(tx, presented));
    if (result && 'reusedSessionId' in result) await auth.revokeSession(result.reusedSessionId);
    const rotated = result && 'sessionId' in result ? result : undefined;
    const user = rotated ? await accounts.getUser(auth.db, rotated.userId) : undefined;
    if (!rotated || !user || user.disabled) {
      clearRefreshCookie(reply);
      throw unauthorized('The session has ended; sign in again');
    }
    setRefreshCookie(reply, rotated.refreshToken);
    return reply.header('cache-control', 'no-store').send(await issueFor(user, rotated.sessionId));
  });

  app.post('/auth/logout', async (request: FastifyRequest, reply) => {
    const presented = request.cookies[REFRESH_COOKIE];
    const sessionId = presented ? await sessions.sessionOf(auth.db, presented) : undefined;
    if (sessionId) await auth.revokeSession(sessionId);
    if (request.principal?.kind === 'user' && request.principalSession) await auth.revokeSession(request.principalSession);
    clearRefreshCookie(reply);
    return reply.status(204).send();
  });

  app.get('/auth/me', async (request, reply) => {
    const principal = requirePrincipal(request);
    if (principal.kind === 'user') {
      const user = await accounts.getUser(auth.db, principal.subject);
      if (!user) throw unauthorized();
      const org = await accounts.getOrganization(auth.db, user.orgId);
      return reply.send({
        ...publicUser(user),
        scope: principal.scopes.join(' '),
        organization: org ? { id: org.id, name: org.name, timeZone: org.timeZone } : undefined,
      });
    }
    return reply.send({ kind: 'client', clientId: principal.subject, orgId: principal.orgId, scope: principal.scopes.join(' ') });
  });
}

export function publicUser(user: UserAccount) {
  return {
    kind: 'user' as const,
    id: user.id,
    orgId: user.orgId,
    email: user.email,
    role: user.role,
    fhirUser: user.fhirUser,
    displayName: user.displayName,
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the sign-in session of a user's access token, so logout can end it */
    principalSession?: string;
  }
}
