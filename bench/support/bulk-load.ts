/**
 * Loads resources for a benchmark fast, writing exactly the rows the repository's create writes — current
 * row (with tokens/refs), history row, string/date/number side-table rows, same meta, content hash and index
 * version — but a few thousand resources per statement instead of one transaction each.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../src/db/database.js';
import { contentHash, fhirInstant, withServerMeta } from '../../src/fhir/repository/meta.js';
import { extractIndexes } from '../../src/fhir/search/index.js';
import { keyIndexHashes } from '../../src/fhir/search/tokens.js';
import { SEARCH_INDEX_VERSION, type ResourceIndexes } from '../../src/fhir/search/types.js';

/** A resource to load, with its search values when the caller already has them. */
export interface IndexedResource {
  resource: Resource;
  indexes?: ResourceIndexes;
}

interface Batch {
  rows: object[];
  strings: [string[], string[], string[], string[], string[]];
  dates: [string[], string[], string[], string[], string[]];
  numbers: [string[], string[], string[], string[], string[], (string | null)[], (string | null)[]];
}

const emptyBatch = (): Batch => ({ rows: [], strings: [[], [], [], [], []], dates: [[], [], [], [], []], numbers: [[], [], [], [], [], [], []] });

function push<T extends unknown[][]>(columns: T, values: unknown[]): void {
  values.forEach((v, i) => columns[i].push(v));
}

/** One statement: the current rows and their history from one JSON array, the side tables from flat arrays. */
async function insertBatch(db: Queryable, b: Batch): Promise<void> {
  await db.query(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(resource_type text, id text, org_id text, last_updated timestamptz,
         content_hash text, resource_data jsonb, tokens text[], refs text[], texts text[], token_hashes bigint[], ref_hashes bigint[])),
     cur AS (
       INSERT INTO fhir_resources
         (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs, texts,
          token_hashes, ref_hashes, index_version)
       SELECT resource_type, id, org_id, 1, last_updated, last_updated, false, content_hash, resource_data, tokens, refs, texts,
              token_hashes, ref_hashes, ${SEARCH_INDEX_VERSION} FROM x),
     s AS (INSERT INTO fhir_search_string (resource_type, id, param, value, exact)
       SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])),
     d AS (INSERT INTO fhir_search_date (resource_type, id, param, low, high)
       SELECT * FROM unnest($7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])),
     n AS (INSERT INTO fhir_search_number (resource_type, id, param, low, high, system, code)
       SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::numeric[], $16::numeric[], $17::text[], $18::text[]))
     INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
     SELECT resource_type, id, 1, org_id, last_updated, false, resource_data FROM x`,
    [JSON.stringify(b.rows), ...b.strings, ...b.dates, ...b.numbers],
  );
}

const TABLES = ['fhir_resources', 'fhir_resource_history', 'fhir_search_string', 'fhir_search_date', 'fhir_search_number'];

/**
 * Runs fn with the secondary indexes of the FHIR tables dropped, then builds them again from their own
 * definitions: building an index once is much faster than maintaining it row by row (the GIN indexes above
 * all). Primary keys stay.
 */
export async function withoutSecondaryIndexes<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  const indexes = await db.query<{ name: string; definition: string }>(
    `SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i
     WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    [TABLES],
  );
  for (const i of indexes.rows) await db.query(`DROP INDEX ${i.name}`);
  const result = await fn();
  await db.transaction(async (tx) => {
    await tx.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    for (const i of indexes.rows) await tx.query(i.definition);
  });
  return result;
}

/**
 * Writes the resources (with their ids) as version 1 in the organisation. Rows of the next batch are built
 * while earlier ones are being inserted, so extraction and the database work side by side.
 */
export async function bulkLoad(db: Queryable, orgId: string, items: Iterable<IndexedResource>, batchSize = 2000): Promise<{ count: number; waitedForDatabaseMs: number }> {
  let batch = emptyBatch();
  // Two batches in flight on two connections, while the next one is being built.
  const pending: Promise<void>[] = [];
  let count = 0;
  let waited = 0;
  const wait = async (inFlight: number) => {
    const t = performance.now();
    while (pending.length > inFlight) await pending.shift();
    waited += performance.now() - t;
  };
  const flush = async () => {
    const full = batch;
    batch = emptyBatch();
    await wait(1);
    const p = insertBatch(db, full);
    // Awaited later; until then a failure must not count as unhandled.
    p.catch(() => undefined);
    pending.push(p);
  };
  for (const { resource, indexes: given } of items) {
    const id = resource.id as string;
    const now = fhirInstant();
    const stored = withServerMeta(resource, id, 1, now);
    const indexes = given ?? extractIndexes(stored);
    const type = stored.resourceType;
    const hashes = keyIndexHashes(indexes);
    batch.rows.push({
      resource_type: type,
      id,
      org_id: orgId,
      last_updated: now,
      content_hash: contentHash(stored),
      resource_data: stored,
      tokens: indexes.tokens,
      refs: indexes.refs,
      texts: indexes.texts,
      token_hashes: hashes.tokens.toStrings(),
      ref_hashes: hashes.refs.toStrings(),
    });
    for (const s of indexes.strings) push(batch.strings, [type, id, s.param, s.value, s.exact]);
    for (const d of indexes.dates) push(batch.dates, [type, id, d.param, d.low, d.high]);
    for (const n of indexes.numbers) push(batch.numbers, [type, id, n.param, String(n.low), String(n.high), n.system ?? null, n.code ?? null]);
    count++;
    if (batch.rows.length >= batchSize) await flush();
  }
  if (batch.rows.length > 0) await flush();
  await wait(0);
  return { count, waitedForDatabaseMs: waited };
}
