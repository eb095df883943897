import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { isoInstant } from '../instant.js';

/** FHIR instants as the server writes them: UTC, milliseconds, 'Z'. */
export function fhirInstant(date?: Date): string {
  return isoInstant(date ? date.getTime() : Date.now());
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

/** A version as written: the resource with its server meta, that resource as JSON text, and its contentHash. */
export interface StoredVersion<T extends Resource> {
  resource: T;
  json: string;
  hash: string;
}

/**
 * withServerMeta, its JSON text and its contentHash from one JSON.stringify of the resource's elements. A write
 * needs all three (the text is the jsonb bind value and the response body); serializing the resource once for
 * each cost more than validating it. Both texts are put together from the same pieces in the key order the
 * object forms have, so `json` is JSON.stringify(withServerMeta(…)) and `hash` is exactly contentHash of it.
 */
export function storedVersion<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): StoredVersion<T> {
  const { resourceType, id: _id, meta: clientMeta, ...elements } = resource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = clientMeta ?? {};
  const hasKeptMeta = Object.keys(keptMeta).length > 0;
  const head = `{"resourceType":${JSON.stringify(resourceType)},"id":${JSON.stringify(id)}`;
  const inner = (json: string) => json.slice(1, -1);
  const elementsJson = inner(JSON.stringify(elements));
  const rest = elementsJson === '' ? '' : `,${elementsJson}`;
  const metaJson = hasKeptMeta ? inner(JSON.stringify(keptMeta)) : '';
  const serverMeta = `"versionId":${JSON.stringify(String(versionId))},"lastUpdated":${JSON.stringify(lastUpdated)}`;
  const json = `${head},"meta":{${metaJson === '' ? '' : `${metaJson},`}${serverMeta}}${rest}}`;
  const hashed = `${head}${rest}${hasKeptMeta ? `,"meta":{${metaJson}}` : ''}}`;
  return {
    resource: withServerMeta(resource, id, versionId, lastUpdated),
    json,
    hash: createHash('sha256').update(hashed).digest('base64url'),
  };
}

/** The stored form: the client's meta (profiles, tags, security) kept, the server's version fields set. */
export function withServerMeta<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): T {
  const { resourceType, id: _id, meta: clientMeta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = clientMeta ?? {};
  // resourceType, id and meta first, as FHIR JSON is usually written and read.
  return { resourceType, id, meta: { ...keptMeta, versionId: String(versionId), lastUpdated }, ...rest } as unknown as T;
}
