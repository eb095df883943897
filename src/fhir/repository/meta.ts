import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';

/** FHIR instants as the server writes them: UTC, milliseconds, 'Z'. */
export function fhirInstant(date: Date = new Date()): string {
  return date.toISOString();
}

/**
 * Hash of what a client can change: the resource without the server-managed meta.versionId/lastUpdated.
 * Equal hashes mean an update would change nothing, so no new version is written. Plain JSON text (key order
 * as written) keeps this cheap on the write path; clients that send back what they read keep the order, and a
 * reordered but equal resource only costs one extra version.
 */
export function contentHash(resource: Resource): string {
  const { meta, ...rest } = resource;
  let stableMeta: Record<string, unknown> | undefined;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...keep } = meta;
    if (Object.keys(keep).length > 0) stableMeta = keep;
  }
  return createHash('sha256')
    .update(JSON.stringify(stableMeta ? { ...rest, meta: stableMeta } : rest))
    .digest('base64url');
}

/** The stored form: the client's meta (profiles, tags, security) kept, the server's version fields set. */
export function withServerMeta<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): T {
  const { resourceType, id: _id, meta: clientMeta, ...rest } = resource;
  // resourceType, id and meta first, as FHIR JSON is usually written and read.
  return { resourceType, id, meta: { ...(clientMeta ?? {}), versionId: String(versionId), lastUpdated }, ...rest } as unknown as T;
}
