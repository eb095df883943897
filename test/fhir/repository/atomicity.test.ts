import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import type { Database, Queryable } from '../../../src/db/database.js';
import { PostgresFhirRepository, type RepositoryDependencies } from '../../../src/fhir/repository/postgres-repository.js';
import { extractIndexes } from '../../../src/fhir/search/extract.js';
import { validateResource } from '../../../src/fhir/validation/validate.js';

const ctx = { orgId: 'org-a', baseUrl: 'http://fhir.test/fhir' };

function deps(onWrite?: RepositoryDependencies['onWrite']): RepositoryDependencies {
  return {
    validate: validateResource,
    extractIndexes,
    writeIndexRows: async (tx, type, id, indexes) => {
      for (const s of indexes.strings) {
        await tx.query('INSERT INTO fhir_search_string (resource_type, id, param, value, exact) VALUES ($1, $2, $3, $4, $5)', [type, id, s.param, s.value, s.exact]);
      }
    },
    deleteIndexRows: async () => undefined,
    search: async () => {
      throw new Error('not used');
    },
    searchCompartment: async () => {
      throw new Error('not used');
    },
    onWrite,
  };
}

async function counts(db: Database) {
  const r = await db.query<{ cur: number; hist: number; str: number }>(
    `SELECT (SELECT count(*)::int FROM fhir_resources) AS cur, (SELECT count(*)::int FROM fhir_resource_history) AS hist,
            (SELECT count(*)::int FROM fhir_search_string) AS str`,
  );
  return r.rows[0];
}

describe.each(testDatabaseKinds())('a write that fails half-way leaves nothing behind, on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('an error after the rows were written rolls back the resource, its history and its index rows', async () => {
    const failing = new PostgresFhirRepository(database.db, ctx, deps(async () => {
      throw new Error('crash after the rows were written');
    }));
    const before = await counts(database.db);
    await expect(failing.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Half' }] })).rejects.toThrow('crash');
    expect(await counts(database.db)).toEqual(before);

    const ok = new PostgresFhirRepository(database.db, ctx, deps());
    const { resource } = await ok.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Whole' }] });
    const afterCreate = await counts(database.db);
    await expect(failing.update({ ...resource, gender: 'female' })).rejects.toThrow('crash');
    expect(await counts(database.db)).toEqual(afterCreate);
    expect((await ok.read<Patient>('Patient', resource.id!)).meta?.versionId).toBe('1');
  });

  it.runIf(kind === 'postgres')('a connection killed mid-transaction commits nothing', async () => {
    const killer = new PostgresFhirRepository(database.db, ctx, deps(async (tx: Queryable) => {
      await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }));
    const before = await counts(database.db);
    await expect(killer.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Killed' }] })).rejects.toThrow();
    expect(await counts(database.db)).toEqual(before);
  });
});
