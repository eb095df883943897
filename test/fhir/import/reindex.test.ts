import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import { reindex } from '../../../src/fhir/maintenance/reindex.js';
import { extractIndexes, writeIndexRows } from '../../../src/fhir/search/index.js';
import type { FhirRepository } from '../../../src/fhir/repository/repository.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

describe.each(testDatabaseKinds())('reindex on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let repo: FhirRepository;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    repo = createDefaultFhirStore(database.db).repository({ orgId: 'org-r', baseUrl: 'http://fhir.test/fhir' });
    for (let i = 0; i < 25; i++) await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: `Reindex${i}` }] });
  });
  afterAll(() => database.close());

  it('rebuilds lost index rows of stale resources in resumable batches, and search finds them again', async () => {
    // Simulate rules that changed: indexes wiped and every row marked as indexed by an older version.
    await database.db.query(`UPDATE fhir_resources SET tokens = '{}', refs = '{}', token_hashes = '{}', ref_hashes = '{}', index_version = 0`);
    await database.db.query('DELETE FROM fhir_search_string');
    expect((await repo.search('Patient', { family: 'Reindex1' })).entry ?? []).toHaveLength(0);

    // An interrupted run: the first batch commits, then the process stops.
    let batches = 0;
    await expect(
      reindex({
        db: database.db,
        deps: { extractIndexes, writeIndexRows },
        batchSize: 10,
        onBatch: () => {
          if (++batches === 1) throw new Error('stopped');
        },
      }),
    ).rejects.toThrow('stopped');
    const stale = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resources WHERE index_version = 0');
    expect(stale.rows[0].n).toBe(15);

    const resumed = await reindex({ db: database.db, deps: { extractIndexes, writeIndexRows }, batchSize: 10 });
    expect(resumed).toBe(15);
    const found = await repo.search('Patient', { family: 'Reindex1', _count: '100' });
    expect((found.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => (e.resource as Patient).name?.[0].family).sort()).toEqual(
      ['Reindex1', 'Reindex10', 'Reindex11', 'Reindex12', 'Reindex13', 'Reindex14', 'Reindex15', 'Reindex16', 'Reindex17', 'Reindex18', 'Reindex19'],
    );
    expect(await reindex({ db: database.db, deps: { extractIndexes, writeIndexRows } })).toBe(0);
  });

  it('moves the :text values of resources indexed by version 2 from string rows to the resource row', async () => {
    const { resource } = await repo.create<Patient>({
      resourceType: 'Patient',
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'nl', display: 'Dutch' }], text: 'Nederlands' } }],
    });
    const id = resource.id!;
    // As version 2 stored it: the texts as string rows, none on the row.
    await database.db.query(`UPDATE fhir_resources SET texts = '{}', index_version = 2 WHERE resource_type = 'Patient' AND id = $1`, [id]);
    await database.db.query(
      `INSERT INTO fhir_search_string (resource_type, id, param, value, exact) VALUES ('Patient', $1, 'language:text', 'nederlands', 'Nederlands'), ('Patient', $1, 'language:text', 'dutch', 'Dutch')`,
      [id],
    );
    const ids = async (query: Record<string, string>) => ((await repo.search('Patient', query)).entry ?? []).map((e) => e.resource?.id);
    expect(await ids({ 'language:text': 'neder' })).toEqual([]);

    expect(await reindex({ db: database.db, deps: { extractIndexes, writeIndexRows } })).toBe(1);
    expect(await ids({ 'language:text': 'neder' })).toEqual([id]);
    expect(await ids({ 'language:text': 'dut' })).toEqual([id]);
    expect(await ids({ 'language:text': 'english' })).toEqual([]);
    const left = await database.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM fhir_search_string WHERE param LIKE '%:text'`);
    expect(left.rows[0].n).toBe(0);
  });
});
