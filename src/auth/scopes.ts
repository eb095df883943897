/**
 * SMART App Launch v2 resource scopes (`patient/Observation.rs`, `user/*.cruds`, `system/*.rs`), with the v1
 * forms `.read`, `.write` and `.*` mapped to their v2 equivalents. Other scopes (openid, fhirUser,
 * offline_access, launch/patient) are kept as given and grant no resource access.
 */
export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface ResourceScope {
  context: ScopeContext;
  /** resource type or '*' */
  resourceType: string;
  permissions: Set<Permission>;
}

const V1_PERMISSIONS: Record<string, Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const V2_ORDER = 'cruds';
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$/;

/**
 * A resource scope, or undefined for anything else. Scopes with a v2 query (`?category=…`) narrow access in
 * ways this server does not enforce; they are refused rather than widened to the whole type.
 */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const m = SCOPE.exec(scope);
  if (!m) return undefined;
  const [, context, resourceType, perms] = m;
  let permissions: Permission[] | undefined = V1_PERMISSIONS[perms];
  if (!permissions) {
    // v2 letters must be a subsequence of "cruds", each at most once.
    let at = 0;
    permissions = [];
    for (const ch of perms) {
      const i = V2_ORDER.indexOf(ch, at);
      if (i < 0) return undefined;
      permissions.push(ch as Permission);
      at = i + 1;
    }
  }
  return { context: context as ScopeContext, resourceType, permissions: new Set(permissions) };
}

export function splitScopes(scope: string | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter((s) => s.length > 0);
}

/** Does the granted scope allow everything the requested one asks for? (For narrowing at token requests.) */
export function scopeCovers(granted: string, requested: string): boolean {
  if (granted === requested) return true;
  const g = parseResourceScope(granted);
  const r = parseResourceScope(requested);
  if (!g || !r) return false;
  if (g.context !== r.context) return false;
  if (g.resourceType !== '*' && g.resourceType !== r.resourceType) return false;
  return [...r.permissions].every((p) => g.permissions.has(p));
}

/**
 * The scopes to put in a token: those requested that some allowed scope covers, or all allowed ones when
 * nothing specific was requested. Requested scopes that are not allowed are dropped, as OAuth permits.
 */
export function grantScopes(allowed: string[], requested: string[] | undefined): string[] {
  if (!requested || requested.length === 0) return allowed;
  return requested.filter((r) => allowed.some((a) => scopeCovers(a, r)));
}
