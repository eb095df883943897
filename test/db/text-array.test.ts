import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTextArray, TextArray } from '../../src/db/database.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';

// Values a text[] literal would have to quote or escape, and ones the binary form must size in bytes, not characters.
const awkward = ['', 'NULL', 'a,b', '{braces}', 'say "hi"', 'back\\slash', 'pipe|and\\|escaped', ' spaced ', 'Zoë Ångström', '患者', '🙂 emoji'];

describe.each(testDatabaseKinds())('TextArray bind values on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    await database.db.exec('CREATE TABLE text_array_probe (id int PRIMARY KEY, keys text[] NOT NULL)');
  });
  afterAll(() => database.close());

  it('store exactly the strings given, into a text[] column and through unnest, prepared or not', async () => {
    await database.db.query('INSERT INTO text_array_probe (id, keys) VALUES ($1, $2)', [1, new TextArray(awkward)], { prepare: true });
    await database.db.query('INSERT INTO text_array_probe (id, keys) VALUES ($1, $2)', [2, new TextArray([])]);
    const rows = await database.db.query<{ id: number; keys: string[] }>('SELECT id, keys FROM text_array_probe ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, keys: awkward },
      { id: 2, keys: [] },
    ]);
    const unnested = await database.db.transaction((tx) =>
      tx.query<{ k: string | null; n: number }>('SELECT k, n::int FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n', [
        new TextArray(['x', null, 'NULL', '']),
      ]),
    );
    expect(unnested.rows).toEqual([
      { k: 'x', n: 1 },
      { k: null, n: 2 },
      { k: 'NULL', n: 3 },
      { k: '', n: 4 },
    ]);
  });

  it('are found by the GIN containment operator like any text[] value', async () => {
    await database.db.exec('CREATE INDEX text_array_probe_keys ON text_array_probe USING gin (keys)');
    const found = await database.db.query<{ id: number }>('SELECT id FROM text_array_probe WHERE keys @> $1', [new TextArray(['Zoë Ångström', 'say "hi"'])]);
    expect(found.rows).toEqual([{ id: 1 }]);
  });
});

describe('encodeTextArray', () => {
  it('writes the array_send layout: dimensions, null flag, element type, then length-prefixed UTF-8 elements', () => {
    const buf = encodeTextArray(['ab', null, 'é']);
    expect([...buf]).toEqual([
      0, 0, 0, 1, // one dimension
      0, 0, 0, 1, // has nulls
      0, 0, 0, 25, // text
      0, 0, 0, 3, // three elements
      0, 0, 0, 1, // lower bound 1
      0, 0, 0, 2, 0x61, 0x62,
      0xff, 0xff, 0xff, 0xff, // null
      0, 0, 0, 2, 0xc3, 0xa9, // é is two bytes
    ]);
    expect([...encodeTextArray([])]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]);
  });
});
