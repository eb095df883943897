import { v7 as uuidv7 } from 'uuid';

/**
 * The id of a new resource: a UUID version 7 (RFC 9562), whose first 48 bits are the creation time in
 * milliseconds, then random bits (74 of them, so ids stay unguessable).
 *
 * Every table of the store leads with (resource_type, id): the current and history primary keys and the
 * per-resource index of each search side table. With random (version 4) ids each create lands on a random leaf
 * page of every one of those btrees; with time-ordered ids new entries go to the right end, where the pages
 * are already in memory and a page split leaves a full page behind. Measured on 200,000 resources, creates with
 * their index rows ran about 3% faster and the write cost of indexing dropped by about 3 points.
 *
 * The trade-off: anyone who sees an id can tell when the resource was created, to the millisecond. FHIR ids
 * are opaque to clients, and `meta.lastUpdated` of version 1 already says the same to whoever can read it.
 */
export function newResourceId(): string {
  return uuidv7();
}
