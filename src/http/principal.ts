import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { forbidden, unauthorized } from '../fhir/outcomes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by the authentication plugin's onRequest hook when the request carries a valid access token;
     * undefined otherwise. Routes decide whether they need one (requirePrincipal) or not (public join pages).
     */
    principal?: Principal;
  }
}

/** The caller, or a 401 OperationOutcome. */
export function requirePrincipal(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}

/** The caller when signed in as one of these user roles, else 401/403. */
export function requireUserRole(request: FastifyRequest, ...roles: NonNullable<Principal['role']>[]): Principal {
  const p = requirePrincipal(request);
  if (p.kind !== 'user' || !p.role || !roles.includes(p.role)) throw forbidden(`This needs a signed-in ${roles.join(' or ')}`);
  return p;
}
