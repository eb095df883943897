/**
 * Create throughput with and without search indexing (run: npx tsx test/fhir/search/write-bench.ts, with
 * TEST_DATABASE_URL for PostgreSQL). Indexing must cost at most a fifth of the create rate.
 */
import type { Resource } from '@medplum/fhirtypes';
import { PostgresFhirRepository } from '../../../src/fhir/repository/postgres-repository.js';
import { deleteIndexRows, extractIndexes, searchCompartment, searchResources, writeIndexRows } from '../../../src/fhir/search/index.js';
import { EMPTY_INDEXES } from '../../../src/fhir/search/types.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { readNdjson, resolveConditionalReferences } from './synthea.js';

const sample = resolveConditionalReferences(['Patient', 'Encounter'].flatMap((t) => readNdjson(t))).slice(0, 600);

for (const kind of testDatabaseKinds()) {
  const { db, close } = await createTestDatabase(kind);
  const rate = async (indexing: boolean | 'arrays' | 'side', round: number): Promise<number> => {
    const repo = new PostgresFhirRepository(db, { orgId: `bench-${round}`, baseUrl: 'http://x/fhir' }, {
      validate: (r) => r as Resource,
      extractIndexes: indexing === true || indexing === 'arrays' ? extractIndexes : indexing === 'side' ? (r) => ({ ...extractIndexes(r), tokens: [], refs: [] }) : () => EMPTY_INDEXES,
      writeIndexRows: indexing === true || indexing === 'side' ? writeIndexRows : async () => undefined,
      deleteIndexRows,
      search: searchResources,
      searchCompartment,
    });
    const t0 = performance.now();
    for (const r of sample) await repo.create({ ...r, id: undefined });
    return sample.length / ((performance.now() - t0) / 1000);
  };
  // The machine is shared: the median of interleaved rounds is steadier than the best or the mean.
  const best = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  await rate(true, 0); // warm-up
  const results: Record<string, number[]> = { with: [], without: [], arrays: [], side: [] };
  for (let i = 1; i <= 5; i++) {
    results.without.push(await rate(false, i * 4));
    results.with.push(await rate(true, i * 4 + 1));
    if (process.env.BREAKDOWN) {
      results.arrays.push(await rate('arrays', i * 4 + 2));
      results.side.push(await rate('side', i * 4 + 3));
    }
  }
  if (process.env.BREAKDOWN) console.log(`${kind}: only tokens/refs ${best(results.arrays).toFixed(0)}/s, only side tables ${best(results.side).toFixed(0)}/s`);
  console.log(`${kind}: creates/s without indexing ${best(results.without).toFixed(0)}, with ${best(results.with).toFixed(0)} (${((100 * best(results.with)) / best(results.without)).toFixed(0)}%)`);
  await close();
}
