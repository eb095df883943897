import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../../src/db/database.js';
import { PostgresFhirRepository, type RepositoryDependencies } from '../../../src/fhir/repository/postgres-repository.js';
import { deleteIndexRows, extractIndexes, indexRowsSql, searchCompartment, searchResources, writeIndexRows } from '../../../src/fhir/search/index.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

const ctx = { orgId: 'org-a', baseUrl: 'http://fhir.test/fhir' };

/** Every statement the repository sends, so a test can tell how many a write took. */
function counting(db: Database): { db: Database; statements: string[] } {
  const statements: string[] = [];
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      statements.push(sql);
      return q.query(sql, params);
    },
  });
  const wrapped: Database = Object.assign(Object.create(db) as Database, {
    query: wrap(db).query,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => db.transaction((tx) => fn(wrap(tx))),
  });
  return { db: wrapped, statements };
}

function deps(folded: boolean): RepositoryDependencies {
  return {
    validate: (r) => r as Resource,
    extractIndexes,
    writeIndexRows,
    ...(folded ? { indexRowsSql } : {}),
    deleteIndexRows,
    search: searchResources,
    searchCompartment,
  };
}

async function sideRows(db: Database, id: string): Promise<string[]> {
  const r = await db.query<{ row: string }>(
    `SELECT 'string ' || param || ' ' || value || ' ' || exact AS row FROM fhir_search_string WHERE id = $1
     UNION ALL SELECT 'date ' || param || ' ' || low::text || ' ' || high::text FROM fhir_search_date WHERE id = $1
     UNION ALL SELECT 'number ' || param || ' ' || low::text || ' ' || high::text FROM fhir_search_number WHERE id = $1`,
    [id],
  );
  return r.rows.map((x) => x.row).sort();
}

const patient = (family: string, birthDate: string): Patient => ({
  resourceType: 'Patient',
  name: [{ family, given: ['Ana'] }],
  birthDate,
  multipleBirthInteger: 2,
});

describe.each(testDatabaseKinds())('index rows folded into the write statement, on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('a create is one statement and writes the same side-table rows as writeIndexRows', async () => {
    const { db, statements } = counting(database.db);
    const folded = new PostgresFhirRepository(db, ctx, deps(true));
    const separate = new PostgresFhirRepository(database.db, ctx, deps(false));
    const a = (await folded.create(patient('Åström', '1980-04-12'))).resource;
    expect(statements.filter((s) => !/^(BEGIN|COMMIT)/.test(s))).toHaveLength(1);
    const b = (await separate.create(patient('Åström', '1980-04-12'))).resource;
    const rowsA = await sideRows(database.db, a.id!);
    expect(rowsA).toEqual(expect.arrayContaining(['string family astrom Åström', 'string given ana Ana']));
    expect(rowsA.some((r) => r.startsWith('date birthdate '))).toBe(true);
    expect(rowsA).toEqual(await sideRows(database.db, b.id!));

    const observation: Resource = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'weight' },
      effectiveDateTime: '2024-05-01T10:00:00Z',
      valueQuantity: { value: 71.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    };
    const c = (await folded.create(observation)).resource;
    const d = (await separate.create(observation)).resource;
    const rowsC = await sideRows(database.db, c.id!);
    expect(rowsC.some((r) => r.startsWith('number '))).toBe(true);
    expect(rowsC).toEqual(await sideRows(database.db, d.id!));
  });

  it('writes of the same shape share their statement text and each write its own values', async () => {
    const repo = new PostgresFhirRepository(database.db, ctx, deps(true));
    const opts = { isNew: true, source: 'cur', firstParam: 14 };
    const one = indexRowsSql(extractIndexes(patient('Ek', '1990-01-01')), opts);
    const same = indexRowsSql(extractIndexes(patient('Holm', '1991-02-02')), opts);
    expect(same.ctes).toBe(one.ctes);
    expect(same.params).not.toEqual(one.params);
    // no name: no string rows, so no string insert
    const nameless = indexRowsSql(extractIndexes({ resourceType: 'Patient', birthDate: '1990-01-01' }), opts);
    expect(nameless.ctes).not.toEqual(one.ctes);
    expect(nameless.ctes.join()).not.toContain('fhir_search_string');
    expect(indexRowsSql(extractIndexes(patient('Ek', '1990-01-01')), { ...opts, firstParam: 15 }).ctes).not.toEqual(one.ctes);

    const written = [patient('Ek', '1990-01-01'), patient('Holm', '1991-02-02'), { ...patient('Sund', '1992-03-03'), name: [{ family: 'Sund', given: ['Ana', 'Bo'] }] }];
    for (const p of written) {
      const stored = (await repo.create(p)).resource;
      const rows = await sideRows(database.db, stored.id!);
      expect(rows.filter((r) => r.startsWith('string family '))).toEqual([`string family ${p.name![0].family!.toLowerCase()} ${p.name![0].family}`]);
      expect(rows.filter((r) => r.startsWith('string given ')).length).toBe(p.name![0].given!.length);
      expect(rows.filter((r) => r.startsWith('date birthdate ')).map((r) => r.split(' ')[2].slice(0, 10))).toEqual([p.birthDate]);
    }
  });

  it('an update replaces the old rows by the new ones in one statement', async () => {
    const { db, statements } = counting(database.db);
    const repo = new PostgresFhirRepository(db, ctx, deps(true));
    const created = (await repo.create(patient('Berg', '1970-01-01'))).resource;
    statements.length = 0;
    const updated = (await repo.update({ ...created, name: [{ family: 'Lind' }], birthDate: '1971-02-03' })).resource;
    // the row lock and the write
    expect(statements.filter((s) => !/^(BEGIN|COMMIT)/.test(s))).toHaveLength(2);
    const rows = await sideRows(database.db, updated.id!);
    expect(rows.filter((r) => r.includes('berg'))).toEqual([]);
    expect(rows.filter((r) => r.startsWith('string family '))).toEqual(['string family lind Lind']);
    expect(rows.filter((r) => r.startsWith('date birthdate '))).toHaveLength(1);
    const found = await repo.search('Patient', { family: 'lind', birthdate: '1971-02-03' });
    expect(found.entry?.map((e) => e.resource?.id)).toEqual([updated.id]);
  });

  it('parameters whose values another parameter stores read its rows instead of storing them again', async () => {
    const repo = new PostgresFhirRepository(database.db, ctx, deps(true));
    const a = (await repo.create({ ...patient('Phonetica', '1950-01-01'), name: [{ family: 'Phonetica', given: ['Zelda'], prefix: ['Dr.'] }] })).resource;
    const b = (await repo.create({ resourceType: 'Patient', birthDate: '1950-01-02' } as Patient)).resource;
    // `phonetic` is `Patient.name` as `name` is, and `family` and `given` store those parts of it: each part once.
    const rows = (await sideRows(database.db, a.id!)).filter((r) => r.startsWith('string '));
    expect(rows).toEqual(['string family phonetica Phonetica', 'string given zelda Zelda', 'string name dr. Dr.']);
    const ids = async (query: Record<string, string>) => ((await repo.search('Patient', query)).entry ?? []).map((e) => e.resource?.id);
    for (const value of ['phonet', 'zel', 'dr']) {
      expect(await ids({ name: value })).toEqual([a.id]);
      expect(await ids({ phonetic: value })).toEqual([a.id]);
    }
    expect(await ids({ 'name:exact': 'Zelda' })).toEqual([a.id]);
    expect(await ids({ 'name:contains': 'oneti' })).toEqual([a.id]);
    expect(await ids({ family: 'zel' })).toEqual([]);
    expect(await ids({ phonetic: 'phonet' })).toEqual([a.id]);
    // Names that sound the same (Soundex), in any word of a family or given name.
    expect(await ids({ phonetic: 'Fonetica' })).toEqual([]);
    expect(await ids({ phonetic: 'Phonetika' })).toEqual([a.id]);
    expect(await ids({ phonetic: 'Zeldah' })).toEqual([a.id]);
    expect(await ids({ phonetic: 'Jones' })).toEqual([]);
    expect(await ids({ name: 'Phonetika' })).toEqual([]);
    expect(await ids({ 'phonetic:exact': 'Phonetica' })).toEqual([a.id]);
    expect(await ids({ 'phonetic:missing': 'true', birthdate: 'ge1950-01-01', _sort: 'birthdate' })).toEqual([b.id]);
    expect(await ids({ 'name:missing': 'false', birthdate: 'le1950-01-02' })).toEqual([a.id]);
    expect(await ids({ birthdate: 'le1950-01-02', _sort: '-phonetic' })).toEqual([a.id, b.id]);
  });

  it('recreating a deleted resource writes its rows again', async () => {
    const repo = new PostgresFhirRepository(database.db, ctx, deps(true));
    const created = (await repo.create(patient('Holm', '1960-05-05'))).resource;
    await repo.delete('Patient', created.id!);
    expect(await sideRows(database.db, created.id!)).toEqual([]);
    await repo.update({ ...created, name: [{ family: 'Holm' }] });
    expect((await sideRows(database.db, created.id!)).filter((r) => r.startsWith('string family '))).toEqual(['string family holm Holm']);
  });

  it('an insert that meets an existing id writes no index rows', async () => {
    const repo = new PostgresFhirRepository(database.db, ctx, deps(true));
    const created = (await repo.create(patient('Ek', '1990-09-09'), { assignedId: 'taken-id' })).resource;
    const before = await sideRows(database.db, created.id!);
    // The conflict is caught inside the transaction, which then commits: nothing of the refused insert may remain.
    await repo.withTransaction(async (tx) => {
      await expect(tx.create(patient('Ny', '2000-01-01'), { assignedId: 'taken-id' })).rejects.toMatchObject({ status: 409 });
    });
    expect(await sideRows(database.db, created.id!)).toEqual(before);
  });
});
