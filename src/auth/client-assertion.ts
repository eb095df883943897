import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { Queryable } from '../db/database.js';
import { accounts, type OAuthClient } from './accounts.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'];
/** SMART Backend Services: the assertion's exp is at most five minutes in the future. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const CLOCK_TOLERANCE_SECONDS = 5;

export class ClientAuthError extends Error {
  constructor(
    readonly error: 'invalid_client' | 'invalid_request',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Authenticates a client by its signed JWT assertion (private_key_jwt, SMART Backend Services): signed with a
 * key of the client's registered JWKS by RS384 or ES384, iss = sub = client_id, aud = our token URL, a short
 * exp, and a jti never seen before.
 */
export async function authenticateClientAssertion(db: Queryable, assertion: string, tokenUrl: string): Promise<OAuthClient> {
  let clientId: string | undefined;
  try {
    clientId = decodeJwt(assertion).iss;
  } catch {
    throw new ClientAuthError('invalid_client', 'client_assertion is not a JWT');
  }
  const client = clientId ? await accounts.findClient(db, clientId) : undefined;
  if (!client || client.disabled || !client.jwks) throw new ClientAuthError('invalid_client', 'Unknown client or no registered public key');
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: client.clientId,
      subject: client.clientId,
      audience: tokenUrl,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (err) {
    throw new ClientAuthError('invalid_client', `client_assertion rejected: ${(err as Error).message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  if ((payload.exp as number) > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) {
    throw new ClientAuthError('invalid_client', 'client_assertion exp is more than five minutes ahead');
  }
  const fresh = await accounts.recordAssertion(db, client.clientId, payload.jti as string, new Date((payload.exp as number) * 1000));
  if (!fresh) throw new ClientAuthError('invalid_client', 'client_assertion jti was already used');
  return client;
}
