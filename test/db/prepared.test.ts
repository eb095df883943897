import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';

describe.each(testDatabaseKinds())('statements marked prepare on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    await database.db.exec('CREATE TABLE prepared_probe (id int PRIMARY KEY, label text)');
  });
  afterAll(() => database.close());

  it('give the same results as unprepared ones, in and out of a transaction', async () => {
    const insert = 'INSERT INTO prepared_probe (id, label) VALUES ($1, $2) RETURNING label';
    for (let i = 1; i <= 3; i++) {
      expect((await database.db.query(insert, [i, `row ${i}`], { prepare: true })).rows).toEqual([{ label: `row ${i}` }]);
    }
    const select = 'SELECT label FROM prepared_probe WHERE id = $1';
    await database.db.transaction(async (tx) => {
      expect((await tx.query(select, [2], { prepare: true })).rows).toEqual([{ label: 'row 2' }]);
      expect((await tx.query(select, [3], { prepare: true })).rows).toEqual([{ label: 'row 3' }]);
      if (kind === 'postgres') {
        // The connection parsed it once, under a name, and keeps it for the next call.
        const prepared = await tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements');
        expect(prepared.rows.map((r) => r.statement)).toContain(select);
      }
    });
    // A failed prepared statement leaves the connection usable and the statement still works.
    await expect(database.db.query(insert, [1, 'duplicate'], { prepare: true })).rejects.toThrow();
    expect((await database.db.query(insert, [4, 'row 4'], { prepare: true })).rows).toEqual([{ label: 'row 4' }]);
  });
});
