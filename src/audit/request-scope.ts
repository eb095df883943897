import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from '../auth/principal.js';

/**
 * What the audit trail needs to know about the HTTP request a write happens in. The repository's write hook
 * runs deep below the routes and only sees the org; this carries the caller to it without threading it
 * through every layer.
 */
export interface RequestScope {
  principal?: Principal;
  /** client address, for AuditEvent.agent.network */
  address?: string;
  /** writes already audited inside their transaction, so the request need not be audited again */
  auditedWrites: number;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();

// Hooks that run after the response (onResponse) are outside the request's async context; they find the
// scope through the request object instead.
const byRequest = new WeakMap<object, RequestScope>();

export function attachScope(request: object, scope: RequestScope): void {
  byRequest.set(request, scope);
}

export function scopeOfRequest(request: object): RequestScope | undefined {
  return byRequest.get(request);
}
