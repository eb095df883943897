import type { FastifyInstance, FastifyReply } from 'fastify';
import { accounts, type OAuthClient } from '../accounts.js';
import { authenticateClientAssertion, ClientAuthError, JWT_BEARER_ASSERTION } from '../client-assertion.js';
import { verifyAgainstNothing, verifySecret } from '../passwords.js';
import { grantScopes, parseResourceScope, splitScopes } from '../scopes.js';
import type { AuthService } from '../service.js';

/** SMART Backend Services recommends access tokens of at most five minutes for system clients. */
const CLIENT_TOKEN_SECONDS = 300;

function oauthError(reply: FastifyReply, status: number, error: string, description: string) {
  if (status === 401) reply.header('www-authenticate', 'Basic realm="token"');
  return reply.status(status).header('cache-control', 'no-store').send({ error, error_description: description });
}

/** POST /oauth2/token: client_credentials, by client_secret_basic or private_key_jwt (RFC 6749, RFC 7523, SMART). */
export function oauthRoutes(app: FastifyInstance, auth: AuthService, rateLimit: { max: number; timeWindow: string }): void {
  app.post('/oauth2/token', { config: { rateLimit } }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    if (typeof body !== 'object' || body.grant_type !== 'client_credentials') {
      return oauthError(reply, 400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
    }
    let client: OAuthClient;
    try {
      client = await authenticateClient(auth, request.headers.authorization, body);
    } catch (err) {
      if (err instanceof ClientAuthError) return oauthError(reply, err.error === 'invalid_client' ? 401 : 400, err.error, err.message);
      throw err;
    }
    const requested = body.scope ? splitScopes(body.scope) : undefined;
    const scopes = grantScopes(client.scopes, requested).filter((s) => parseResourceScope(s)?.context === 'system');
    if (scopes.length === 0) return oauthError(reply, 400, 'invalid_scope', 'None of the requested scopes is allowed for this client');
    const issued = await auth.tokens.issue(
      { orgId: client.orgId, kind: 'client', subject: client.clientId, displayName: client.name, scopes },
      { expiresIn: CLIENT_TOKEN_SECONDS },
    );
    return reply
      .header('cache-control', 'no-store')
      .send({ access_token: issued.accessToken, token_type: 'bearer', expires_in: issued.expiresIn, scope: scopes.join(' ') });
  });
}

async function authenticateClient(auth: AuthService, authorization: string | undefined, body: Record<string, string | undefined>): Promise<OAuthClient> {
  if (body.client_assertion_type !== undefined || body.client_assertion !== undefined) {
    if (body.client_assertion_type !== JWT_BEARER_ASSERTION || !body.client_assertion) {
      throw new ClientAuthError('invalid_request', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    }
    return authenticateClientAssertion(auth.db, body.client_assertion, auth.tokenUrl);
  }
  const basic = /^Basic\s+(.+)$/i.exec(authorization ?? '');
  if (!basic) throw new ClientAuthError('invalid_client', 'Authenticate with HTTP Basic (client_secret_basic) or a client_assertion');
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new ClientAuthError('invalid_client', 'Malformed Basic credentials');
  // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
  const clientId = safeDecode(decoded.slice(0, colon));
  const secret = safeDecode(decoded.slice(colon + 1));
  const client = await accounts.findClient(auth.db, clientId);
  const ok = client?.secretHash ? await verifySecret(secret, client.secretHash) : await verifyAgainstNothing(secret);
  if (!client || !ok || client.disabled) throw new ClientAuthError('invalid_client', 'Unknown client or wrong secret');
  return client;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
