import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';

/** FHIR instants as the server writes them: UTC, milliseconds, 'Z'. */
export function fhirInstant(date: Date = new Date()): string {
  return date.toISOString();
}

/**
 * Hash of what a client can change: the resource without the server-managed meta.versionId/lastUpdated.
 * Equal hashes mean an update would change nothing, so no new version is written.
 */
export function contentHash(resource: Resource): string {
  const { meta, ...rest } = resource;
  let stableMeta: Record<string, unknown> | undefined;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...keep } = meta;
    if (Object.keys(keep).length > 0) stableMeta = keep;
  }
  return createHash('sha256')
    .update(canonicalJson(stableMeta ? { ...rest, meta: stableMeta } : rest))
    .digest('base64url');
}

/** JSON with object keys sorted, so the same content always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The stored form: the client's meta (profiles, tags, security) kept, the server's version fields set. */
export function withServerMeta<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): T {
  const { resourceType, id: _id, meta: clientMeta, ...rest } = resource;
  // resourceType, id and meta first, as FHIR JSON is usually written and read.
  return { resourceType, id, meta: { ...(clientMeta ?? {}), versionId: String(versionId), lastUpdated }, ...rest } as unknown as T;
}
