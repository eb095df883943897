import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import { READ_CURRENT_SQL } from '../../../src/fhir/repository/postgres-repository.js';
import type { FhirStore } from '../../../src/fhir/store.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

const ctx = { orgId: 'org-plan', baseUrl: 'http://fhir.test/fhir' };
const other = { orgId: 'org-plan-other', baseUrl: 'http://fhir.test/fhir' };

describe.each(testDatabaseKinds())('the read of a current resource on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: FhirStore;
  const ids: string[] = [];
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    store = createDefaultFhirStore(database.db);
    // A table not yet analyzed (a new database, or before autovacuum's first pass) is when the planner has the
    // least to go on; autovacuum is kept away so the statistics stay that way during the test.
    await database.db.exec('ALTER TABLE fhir_resources SET (autovacuum_enabled = false)');
    const repo = store.repository(ctx);
    for (let i = 0; i < 20; i++) ids.push((await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: `Plan${i}` }] })).resource.id!);
    // An org with many Patients, which is when a wrong plan costs: rows written directly, only their keys matter.
    await database.db.exec(`INSERT INTO fhir_resources (resource_type, id, org_id, version_id, last_updated, created_at, content_hash, resource_data)
      SELECT 'Patient', 'plan-' || g, '${ctx.orgId}', 1, now(), now(), '', '{"resourceType":"Patient"}' FROM generate_series(1, 2000) g`);
  });
  afterAll(() => database.close());

  it('finds the row by its primary key even under the generic plan a prepared statement ends up with', async () => {
    // Hot reads are prepared statements; after a few runs PostgreSQL may switch to a generic plan. That plan
    // must still be a primary-key lookup, not a walk of the org's index over every Patient of the org.
    const plan = await database.db.transaction(async (tx) => {
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await tx.query(`PREPARE read_plan_probe(text, text) AS ${READ_CURRENT_SQL}`);
      const r = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE read_plan_probe('Patient', '${ids[12]}')`);
      await tx.query('DEALLOCATE read_plan_probe');
      return r.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('fhir_resources_pkey');
    expect(plan).not.toContain('fhir_resources_org_type_updated');
  });

  it('still keeps each org to its own resources', async () => {
    const mine = store.repository(ctx);
    const theirs = store.repository(other);
    expect((await mine.read<Patient>('Patient', ids[7])).name?.[0].family).toBe('Plan7');
    await expect(theirs.read('Patient', ids[7])).rejects.toMatchObject({ status: 404 });
    expect(await theirs.readIfExists('Patient', ids[7])).toBeUndefined();
    expect((await mine.readIfExists<Patient>('Patient', ids[7]))?.name?.[0].family).toBe('Plan7');
    await mine.delete('Patient', ids[8]);
    expect(await mine.readIfExists('Patient', ids[8])).toBeUndefined();
  });
});
