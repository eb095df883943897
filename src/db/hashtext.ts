/**
 * PostgreSQL's hashtextextended(text, 0) in JavaScript: Bob Jenkins' lookup3 hash as PostgreSQL's
 * hash_bytes_extended (src/common/hashfn.c) computes it over a text's UTF-8 bytes, with its 64-bit result
 * written as two 32-bit words, high word first.
 *
 * Why by hand: the hashed key indexes (migration 014) hold these values, written by the server for each row it
 * stores and computed in SQL wherever keys are built by a query (chained and reverse-chained searches) or rows
 * are written set-wise (the audit trail). Both must give the same numbers, and no npm package implements
 * PostgreSQL's function. test/db/hashtext.test.ts compares the two on both databases.
 *
 * The database's encoding is UTF-8 (PGlite's always is; migrate() refuses any other) and the default
 * collation is deterministic, so hashtextextended hashes exactly the text's UTF-8 bytes.
 */

const rot = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

const encoder = new TextEncoder();
const word = (k: Uint8Array, at: number): number => k[at] | (k[at + 1] << 8) | (k[at + 2] << 16) | (k[at + 3] << 24);
/** Where a key's UTF-8 bytes are put to be hashed; grown for a longer key. */
let scratch = new Uint8Array(256);

/**
 * Writes hashtextextended(key, 0) into `out` at `offset` as 8 big-endian bytes (the binary form of a bigint).
 */
export function writeHashText(key: string, out: Buffer, offset: number): void {
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const k = scratch;
  const length = encoder.encodeInto(key, k).written;
  let a = (0x9e3779b9 + length + 3923095) | 0;
  let b = a;
  let c = a;
  let i = 0;
  let len = length;
  while (len >= 12) {
    a = (a + word(k, i)) | 0;
    b = (b + word(k, i + 4)) | 0;
    c = (c + word(k, i + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    i += 12;
    len -= 12;
  }
  // The last 11 bytes; the lowest byte of c is left for the length, as in lookup3.
  switch (len) {
    case 11: c = (c + (k[i + 10] << 24)) | 0; // falls through
    case 10: c = (c + (k[i + 9] << 16)) | 0; // falls through
    case 9: c = (c + (k[i + 8] << 8)) | 0; // falls through
    case 8: b = (b + (k[i + 7] << 24)) | 0; // falls through
    case 7: b = (b + (k[i + 6] << 16)) | 0; // falls through
    case 6: b = (b + (k[i + 5] << 8)) | 0; // falls through
    case 5: b = (b + k[i + 4]) | 0; // falls through
    case 4: a = (a + (k[i + 3] << 24)) | 0; // falls through
    case 3: a = (a + (k[i + 2] << 16)) | 0; // falls through
    case 2: a = (a + (k[i + 1] << 8)) | 0; // falls through
    case 1: a = (a + k[i]) | 0;
  }
  // final(a, b, c)
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  out.writeInt32BE(b, offset);
  out.writeInt32BE(c, offset + 4);
}
