import type { Resource } from '@medplum/fhirtypes';
import type { Database } from '../../db/database.js';
import type { ResourceIndexes } from '../search/types.js';
import { SEARCH_INDEX_VERSION } from '../search/types.js';
import { keyIndexHashes } from '../search/tokens.js';
import type { RepositoryDependencies } from '../repository/postgres-repository.js';

export interface ReindexOptions {
  db: Database;
  deps: Pick<RepositoryDependencies, 'extractIndexes' | 'writeIndexRows'>;
  batchSize?: number;
  /** Rebuild every resource, not only those indexed by an older version of the rules. */
  all?: boolean;
  onBatch?: (done: number) => void;
}

/**
 * Rebuilds the search index of stored resources in batches, each batch one transaction. Progress is the
 * index_version column itself, so an interrupted run resumes where it stopped; rows being written meanwhile
 * are skipped (SKIP LOCKED) and were indexed by their own write anyway.
 *
 * The column has no index of its own (it would cost every write an index entry for the sake of this rare
 * job): a run walks the primary key in order, keeping its place, and skips rows already current.
 */
export async function reindex(opts: ReindexOptions): Promise<number> {
  const batchSize = opts.batchSize ?? 500;
  let done = 0;
  // With --all, first mark everything stale in one statement, then the same resumable loop does the work.
  if (opts.all) await opts.db.query('UPDATE fhir_resources SET index_version = 0 WHERE NOT deleted');
  let after = { resourceType: '', id: '' };
  for (;;) {
    const n = await opts.db.transaction(async (tx) => {
      const rows = await tx.query<{ resource_type: string; id: string; resource_data: Resource }>(
        `SELECT resource_type, id, resource_data FROM fhir_resources
         WHERE (resource_type, id) > ($3, $4) AND index_version < $1 AND NOT deleted
         ORDER BY resource_type, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [SEARCH_INDEX_VERSION, batchSize, after.resourceType, after.id],
      );
      const last = rows.rows.at(-1);
      if (last) after = { resourceType: last.resource_type, id: last.id };
      for (const row of rows.rows) {
        const indexes: ResourceIndexes = opts.deps.extractIndexes(row.resource_data);
        const hashes = keyIndexHashes(indexes);
        await tx.query(
          `UPDATE fhir_resources SET tokens = $3, refs = $4, texts = $5, token_hashes = $6, ref_hashes = $7, index_version = $8
           WHERE resource_type = $1 AND id = $2`,
          [row.resource_type, row.id, indexes.tokens, indexes.refs, indexes.texts, hashes.tokens, hashes.refs, SEARCH_INDEX_VERSION],
        );
        await opts.deps.writeIndexRows(tx, row.resource_type, row.id, indexes, { isNew: false });
      }
      return rows.rows.length;
    });
    if (n === 0) return done;
    done += n;
    opts.onBatch?.(done);
  }
}
