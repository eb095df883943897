import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import type { FhirStore } from '../../../src/fhir/store.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

const ctx = { orgId: 'org-alongside', baseUrl: 'http://fhir.test/fhir' };
const note = (text: string) => ({ sql: 'INSERT INTO alongside_probe (note, at) VALUES ($1, $2)', params: [text, new Date()] });

describe.each(testDatabaseKinds())('rows written alongside an update on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: FhirStore;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    store = createDefaultFhirStore(database.db);
    await database.db.exec('CREATE TABLE alongside_probe (note text PRIMARY KEY, at timestamptz NOT NULL)');
  });
  afterAll(() => database.close());
  const notes = async () => (await database.db.query<{ note: string }>('SELECT note FROM alongside_probe ORDER BY note')).rows.map((r) => r.note);

  it('are written with a new version, with an unchanged one, and with an update that creates', async () => {
    const repo = store.repository(ctx);
    const { resource } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Along' }] });
    const updated = await repo.update({ ...resource, gender: 'female' }, { alongside: [note('a'), note('b')] });
    expect(updated.outcome).toBe('updated');
    const unchanged = await repo.update(updated.resource, { alongside: [note('c')] });
    expect(unchanged.outcome).toBe('unchanged');
    const created = await repo.update<Patient>({ resourceType: 'Patient', id: 'alongside-new' }, { alongside: [note('d')] });
    expect(created.outcome).toBe('created');
    expect(await notes()).toEqual(['a', 'b', 'c', 'd']);
    expect((await repo.read<Patient>('Patient', resource.id!)).meta?.versionId).toBe('2');
  });

  it('fail with the update: a row that cannot be written leaves no new version, and the other rows are not written', async () => {
    const repo = store.repository(ctx);
    const { resource } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Rollback' }] });
    // 'a' exists already: the primary key refuses it, and with it the whole statement.
    await expect(repo.update({ ...resource, gender: 'male' }, { alongside: [note('e'), note('a')] })).rejects.toThrow();
    expect((await repo.read<Patient>('Patient', resource.id!)).meta?.versionId).toBe('1');
    expect(await notes()).toEqual(['a', 'b', 'c', 'd']);
    const history = await repo.history('Patient', resource.id!);
    expect(history.entry).toHaveLength(1);
  });
});
