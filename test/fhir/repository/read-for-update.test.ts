import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient, Practitioner } from '@medplum/fhirtypes';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import type { FhirStore } from '../../../src/fhir/store.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

const ctx = { orgId: 'org-rfu', baseUrl: 'http://fhir.test/fhir' };

describe.each(testDatabaseKinds())('readForUpdate on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: FhirStore;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    store = createDefaultFhirStore(database.db);
  });
  afterAll(() => database.close());

  it('reads the current version, and the update after it writes the next one', async () => {
    const repo = store.repository(ctx);
    const { resource } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Locked' }] });
    const updated = await repo.withTransaction(async (tx) => {
      const current = await tx.readForUpdate<Patient>('Patient', resource.id!);
      expect(current?.meta?.versionId).toBe('1');
      const first = await tx.update({ ...current!, gender: 'female' });
      // The row is still held: a second update in the same transaction builds on the first.
      const again = await tx.readForUpdate<Patient>('Patient', resource.id!);
      expect(again?.gender).toBe('female');
      await tx.update({ ...again!, birthDate: '1980-02-03' });
      return first;
    });
    expect(updated.resource.meta?.versionId).toBe('2');
    const stored = await repo.read<Patient>('Patient', resource.id!);
    expect(stored).toMatchObject({ gender: 'female', birthDate: '1980-02-03', meta: { versionId: '3' } });
    const history = await repo.history('Patient', resource.id!);
    expect(history.entry?.map((e) => e.response?.etag)).toEqual(['W/"3"', 'W/"2"', 'W/"1"']);
  });

  it('is undefined for what read would answer 404 or 410, including another org’s resource', async () => {
    const repo = store.repository(ctx);
    const { resource: gone } = await repo.create<Patient>({ resourceType: 'Patient' });
    await repo.delete('Patient', gone.id!);
    const { resource: theirs } = await store.repository({ ...ctx, orgId: 'org-other' }).create<Patient>({ resourceType: 'Patient' });
    await repo.withTransaction(async (tx) => {
      expect(await tx.readForUpdate('Patient', gone.id!)).toBeUndefined();
      expect(await tx.readForUpdate('Patient', theirs.id!)).toBeUndefined();
      expect(await tx.readForUpdate('Patient', 'never-existed')).toBeUndefined();
    });
  });

  it('loses no update when transactions read and update the same resource at once', async () => {
    const repo = store.repository(ctx);
    const { resource } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Counter', given: [] }] });
    const writers = 8;
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        repo.withTransaction(async (tx) => {
          const current = await tx.readForUpdate<Patient>('Patient', resource.id!);
          const name = current!.name![0];
          await tx.update({ ...current!, name: [{ ...name, given: [...(name.given ?? []), `w${i}`] }] });
        }),
      ),
    );
    const final = await repo.read<Patient>('Patient', resource.id!);
    expect(final.name?.[0].given?.sort()).toEqual(Array.from({ length: writers }, (_, i) => `w${i}`).sort());
    expect(final.meta?.versionId).toBe(String(writers + 1));
  });

  it('locks several resources in one statement, in the order asked, with the same answers as readForUpdate', async () => {
    const repo = store.repository(ctx);
    const { resource: a } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'ManyA' }] });
    const { resource: b } = await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'ManyB' }] });
    const { resource: gone } = await repo.create<Patient>({ resourceType: 'Patient' });
    await repo.delete('Patient', gone.id!);
    const { resource: theirs } = await store.repository({ ...ctx, orgId: 'org-other' }).create<Patient>({ resourceType: 'Patient' });
    await repo.withTransaction(async (tx) => {
      const got = await tx.readManyForUpdate([
        { resourceType: 'Practitioner', id: b.id },
        { resourceType: 'Patient', id: a.id },
        { resourceType: 'Patient', id: gone.id },
        { resourceType: 'Patient', id: theirs.id },
        { resourceType: 'Patient', id: 'never-existed' },
        { resourceType: 'Patient', id: undefined },
      ]);
      expect(got.map((r) => r?.id)).toEqual([b.id, a.id, undefined, undefined, undefined, undefined]);
      // Held: the updates build on the locked rows.
      await tx.update({ ...(got[1] as Patient), gender: 'other' });
      expect((await tx.readForUpdate<Patient>('Patient', a.id!))?.gender).toBe('other');
    });
    expect((await repo.read<Patient>('Patient', a.id!)).meta?.versionId).toBe('2');
  });

  it('two transactions locking the same two resources, asked in opposite orders, wait for each other and lose no update', async () => {
    const repo = store.repository(ctx);
    const { resource: a } = await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Order', given: [] }] });
    const { resource: b } = await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Order', given: [] }] });
    const keyA = { resourceType: 'Patient', id: a.id };
    const keyB = { resourceType: 'Practitioner', id: b.id };
    const run = (keys: { resourceType: string; id?: string }[], tag: string) =>
      repo.withTransaction(async (tx) => {
        const rows = await tx.readManyForUpdate(keys);
        await new Promise((r) => setTimeout(r, 50));
        for (const row of rows) {
          const r = row as Patient;
          await tx.update({ ...r, name: [{ family: 'Order', given: [...(r.name?.[0].given ?? []), tag] }] });
        }
      });
    await Promise.all([run([keyA, keyB], 'one'), run([keyB, keyA], 'two')]);
    for (const [type, id] of [['Patient', a.id!], ['Practitioner', b.id!]] as const) {
      const final = await repo.read<Patient>(type, id);
      expect(final.name?.[0].given?.sort()).toEqual(['one', 'two']);
      expect(final.meta?.versionId).toBe('3');
    }
  });
});
