import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BigIntArray, encodeBigIntArray } from '../../src/db/database.js';
import { keyHashes } from '../../src/fhir/search/tokens.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';

/**
 * Keys of every length from 0 to 40 bytes (lookup3 reads 12-byte blocks and then a tail of up to 11 bytes), of
 * one-, two-, three- and four-byte UTF-8 characters, and the search keys the product writes.
 */
function sampleKeys(): string[] {
  const alphabet = ['a', 'Z', '0', '|', '=', ':', '/', ' ', 'é', 'Å', '€', '患', '🙂'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const keys = new Set<string>(['', 'identifier=MRN-7', 'identifier|urn:sys:a|MRN-7', 'subject|Patient/123', 'name|http://x/y?z']);
  for (let length = 1; length <= 40; length++) {
    keys.add('x'.repeat(length));
    for (let r = 0; r < 4; r++) keys.add(Array.from({ length }, () => alphabet[next() % alphabet.length]).join(''));
  }
  return [...keys];
}

describe.each(testDatabaseKinds())('key hashes on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(() => database.close());

  it("equals the database's hashtextextended(key, 0) for every key", async () => {
    const keys = sampleKeys();
    const r = await database.db.query<{ k: string; h: string }>('SELECT k, hashtextextended(k, 0)::text AS h FROM unnest($1::text[]) k', [keys]);
    expect(r.rows).toHaveLength(keys.length);
    for (const row of r.rows) expect(keyHashes([row.k]).toStrings()[0], JSON.stringify(row.k)).toBe(row.h);
  });

  it('binds as a bigint[] that the database reads back number for number, prepared or not', async () => {
    const keys = sampleKeys().slice(0, 50);
    const hashes = keyHashes(keys);
    for (const prepare of [false, true]) {
      const r = await database.db.query<{ h: string[]; same: boolean }>(
        'SELECT $1::bigint[]::text[] AS h, $1::bigint[] = ARRAY(SELECT hashtextextended(k, 0) FROM unnest($2::text[]) k) AS same',
        [hashes, keys],
        { prepare },
      );
      expect(r.rows[0].h).toEqual(hashes.toStrings());
      expect(r.rows[0].same).toBe(true);
    }
    const empty = await database.db.query<{ n: number }>("SELECT cardinality($1::bigint[]) AS n", [keyHashes([])]);
    expect(empty.rows[0].n).toBe(0);
  });
});

describe('encodeBigIntArray', () => {
  it('writes the array_send layout: dimensions, null flag, element type, then length-prefixed big-endian words', () => {
    const words = Buffer.alloc(16);
    words.writeBigInt64BE(1n, 0);
    words.writeBigInt64BE(-2n, 8);
    expect([...encodeBigIntArray(new BigIntArray(words))]).toEqual([
      0, 0, 0, 1, // one dimension
      0, 0, 0, 0, // no nulls
      0, 0, 0, 20, // int8
      0, 0, 0, 2, // two elements
      0, 0, 0, 1, // lower bound 1
      0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1,
      0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    ]);
    expect([...encodeBigIntArray(new BigIntArray(Buffer.alloc(0)))]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20]);
    expect(new BigIntArray(words).toStrings()).toEqual(['1', '-2']);
  });
});
