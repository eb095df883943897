import type { Principal } from '../auth/principal.js';
import { parseResourceScope, type Permission } from '../auth/scopes.js';
import type { AccessPolicy } from '../fhir/rest/types.js';

/**
 * Who may export what. A bulk export reads whole types across the caller's org, so it needs scopes that open
 * the whole type: system/ scopes for OAuth clients, user/ scopes for people, each with read and search
 * (`.rs`). patient/ scopes cannot be narrowed to an export and never open one.
 */
export function exportableTypePredicate(principal: Principal, access: AccessPolicy): (resourceType: string) => boolean {
  const context = principal.kind === 'client' ? 'system' : 'user';
  const granted = new Map<string, Set<Permission>>();
  for (const text of principal.scopes) {
    const scope = parseResourceScope(text);
    if (!scope || scope.context !== context) continue;
    const set = granted.get(scope.resourceType) ?? new Set<Permission>();
    for (const p of scope.permissions) set.add(p);
    granted.set(scope.resourceType, set);
  }
  const has = (type: string, p: Permission) => granted.get(type)?.has(p) || granted.get('*')?.has(p);
  return (resourceType) => {
    if (!has(resourceType, 'r') || !has(resourceType, 's')) return false;
    // The access policy adds the server's own rules on top of scopes (the audit trail is for admins only).
    try {
      access.assertInteraction('search', resourceType);
      access.assertInteraction('read', resourceType);
      return true;
    } catch {
      return false;
    }
  };
}

/** The job's owner: only the same org and the same client (or user) may see its status and files. */
export interface ExportOwner {
  orgId: string;
  kind: Principal['kind'];
  subject: string;
}

export function ownerOf(principal: Principal): ExportOwner {
  return { orgId: principal.orgId, kind: principal.kind, subject: principal.subject };
}

export function isOwner(principal: Principal | undefined, job: { orgId: string; clientKind: string; clientId: string }): boolean {
  return principal !== undefined && principal.orgId === job.orgId && principal.kind === job.clientKind && principal.subject === job.clientId;
}
