import { soundex } from 'soundex-code';
import { BigIntArray } from '../../db/database.js';
import { writeHashText } from '../../db/hashtext.js';

/**
 * How token, uri and reference values are written into the GIN-indexed `tokens` and `refs` arrays of
 * fhir_resources. Extraction (write side) and the query builder (read side) both use only these functions,
 * so the two can never disagree.
 *
 * Search parameter codes never contain `|`, `=` or `:`, so the text up to the first of those characters is
 * always the parameter, and the character that follows it says which kind of key this is:
 *
 *   `code=C`                 any system with code C           (search `code=C`)
 *   `code|S|C`               system S and code C              (search `code=S|C`)
 *   `code||C`                no system, code C                (search `code=|C`)
 *   `code|S|`                system S, any code               (search `code=S|`)
 *   `identifier:of-type|TS|TC|V`  identifier of type TS|TC with value V (search `identifier:of-type=TS|TC|V`)
 *   `url=U`                  a uri parameter with value U
 *
 * A `|` inside a system or type code is escaped as `\|` (the search syntax escapes it the same way), so a
 * system can never run into the code that follows it. Codes themselves are taken as written: they come last.
 * Values are case-sensitive, as the specification says for tokens.
 *
 * References go into `refs` as `param|Type/id` (relative) or `param|<absolute url>` as written.
 *
 * The GIN indexes hold 64-bit hashes of keys (PostgreSQL's hashtextextended, src/db/hashtext.ts) in two
 * columns beside the arrays: `ref_hashes`, of all reference keys, and `token_hashes`, of the token keys of kind
 * `=` or `:` (`code=C`, `identifier:of-type|…`). The server computes them for every row it writes
 * (keyIndexHashes); SQL that builds keys or writes rows set-wise computes the same values with
 * fhir_key_hashes() and fhir_token_index_hashes() (migrations 013, 014). A search enters through the hashes
 * and keeps its exact condition on the key texts beside them, so a hash collision costs a recheck, never a
 * wrong row.
 *
 * The exact condition is what makes `code|S|C` searches (entered through `code=C`) exact, and it keeps a
 * reference crafted to collide with another resource's key hash out of that resource's compartment. Its
 * costs: the planner multiplies the two conditions' selectivities and so underestimates the rows of a token
 * or reference search; and a row the planner reads without the index evaluates the hash only when its key
 * texts matched (PostgreSQL puts the cheaper text condition first), about 4 µs a row.
 */

const escapePart = (s: string): string => (s.includes('|') || s.includes('\\') ? s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|') : s);

/** The keys stored for one token value (system may be absent, code may be absent when only a system is given). */
export function tokenKeys(param: string, system: string | undefined, code: string | undefined): string[] {
  const keys = new Set<string>();
  addTokenKeys(keys, param, system, code);
  return [...keys];
}

/** tokenKeys, added straight to a set (extraction's hot path). */
export function addTokenKeys(into: { add(key: string): unknown }, param: string, system: string | undefined, code: string | undefined): void {
  const escapedSystem = system ? escapePart(system) : '';
  if (code !== undefined && code !== '') {
    into.add(`${param}=${code}`);
    into.add(`${param}|${escapedSystem}|${code}`);
  }
  if (system) into.add(`${param}|${escapedSystem}|`);
}

/** The key a token search value is looked up by: mirrors tokenKeys. */
export function tokenSearchKey(param: string, system: string | undefined, code: string | undefined): string {
  // system === undefined: no `|` in the search value → any system.
  if (system === undefined) return `${param}=${code ?? ''}`;
  return `${param}|${escapePart(system)}|${code ?? ''}`;
}

/**
 * A token search value as the keys it is matched by: `key`, the exact key, and `indexKey`, an indexed key that
 * every resource with `key` also has (`code=C` for `code|S|C` and `code||C`, which extraction always stores
 * together), absent for `code|S|` (any code of a system), which the index does not hold.
 */
export interface TokenLookup {
  key: string;
  indexKey?: string;
}

export function tokenLookup(param: string, system: string | undefined, code: string | undefined): TokenLookup {
  return { key: tokenSearchKey(param, system, code), indexKey: code ? `${param}=${code}` : undefined };
}

/** A lookup of a key that is indexed as it is (`code=C`, uri, `:of-type` and phonetic keys). */
export function indexedLookup(key: string): TokenLookup {
  return { key, indexKey: key };
}

/**
 * A condition on the `tokens` keys of `alias`: some key is one of `keys` (an SQL expression). `indexHashes`, the
 * hashes of the lookups' index keys (an SQL bigint[]: keyHashes() bound, or fhir_key_hashes() of SQL keys),
 * lets the planner use the GIN index; without them (a lookup of `code|S|`) the keys are read row by row.
 */
export function tokensCondition(alias: string, keys: string, indexHashes?: string): string {
  const exact = `${alias}.tokens && ${keys}`;
  return indexHashes ? `(${alias}.token_hashes && ${indexHashes} AND ${exact})` : exact;
}

/** Whether the token index holds a key: its kind character (the first of `|`, `=`, `:`) is `=` or `:`. */
export function isIndexedTokenKey(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    if (ch === 0x7c /* | */) return false;
    if (ch === 0x3d /* = */ || ch === 0x3a /* : */) return true;
  }
  return false;
}

/** hashtextextended(key, 0) of each key, as a bigint[] bind value. */
export function keyHashes(keys: readonly string[]): BigIntArray {
  const words = Buffer.allocUnsafe(8 * keys.length);
  for (let i = 0; i < keys.length; i++) writeHashText(keys[i], words, 8 * i);
  return new BigIntArray(words);
}

/** The hashes a resource's row holds for the GIN indexes: of its indexed token keys and of all its references. */
export function keyIndexHashes(indexes: { tokens: readonly string[]; refs: readonly string[] }): { tokens: BigIntArray; refs: BigIntArray } {
  return { tokens: keyHashes(indexes.tokens.filter(isIndexedTokenKey)), refs: keyHashes(indexes.refs) };
}

/*
 * `phonetic` ("a portion of either family or given name using some kind of phonetic matching algorithm") is
 * matched by Soundex, the classic algorithm for names: every word of a family or given name is stored as a
 * `phonetic=S530` key, and a search word matches a name with the same key (Smyth finds Smith).
 */

/** The Soundex keys of the words of a name (letters only; words without a letter have none). */
export function phoneticKeys(param: string, text: string): string[] {
  const words = normalizeString(text).match(/[a-z]+/g) ?? [];
  return words.map((w) => tokenSearchKey(param, undefined, soundex(w)));
}

/** Lower case with accents removed: how string search, `:text` and `phonetic` compare. */
export function normalizeString(s: string): string {
  // Only NFD-decompose text that has non-ASCII characters: most values are ASCII and this is the hot path.
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(s);
  return (ascii ? s : s.normalize('NFD').replace(/[\u0300-\u036f]/g, '')).toLowerCase();
}

/** Key of an Identifier by its type, for the `:of-type` modifier. */
export function ofTypeKey(param: string, typeSystem: string, typeCode: string, value: string): string {
  return `${param}:of-type|${escapePart(typeSystem)}|${escapePart(typeCode)}|${value}`;
}

/** Key of a uri parameter value (uri values are matched exactly, case-sensitively). */
export function uriKey(param: string, uri: string): string {
  return `${param}=${uri}`;
}

/** Key of a reference value: `Type/id` or an absolute URL as written. */
export function refKey(param: string, reference: string): string {
  return `${param}|${reference}`;
}

/** Prefixes that any key of that parameter starts with (for `:missing`). */
export function tokenPrefixes(param: string): string[] {
  return [`${param}=`, `${param}|`, `${param}:`];
}

export function refPrefix(param: string): string {
  return `${param}|`;
}

/**
 * A condition on the `refs` keys of `alias` (`&&` any of, `@>` all of `keys`, an SQL text[]): on their hashes,
 * which the GIN index holds, and on the texts. `hashes` is the keys' hashes as an SQL bigint[]: keyHashes()
 * bound, or by default fhir_key_hashes() of the keys for keys SQL builds. The index holds only rows that have
 * references (most Patients, Practitioners and Organizations have none, and each of those would otherwise add
 * an entry to the index on every write); the planner uses a partial index only for a query that states its
 * predicate, so every condition on refs repeats it.
 */
export function refsCondition(alias: string, op: '&&' | '@>', keys: string, hashes = `fhir_key_hashes(${keys})`): string {
  return `(${alias}.ref_hashes <> '{}'::bigint[] AND ${alias}.ref_hashes ${op} ${hashes} AND ${alias}.refs ${op} ${keys})`;
}

/*
 * The `:text` modifier matches words of the text at any position (`% word%`), which no index serves, so its
 * values live in the resource's own unindexed `texts` array rather than as side-table rows: one array element
 * costs next to nothing to write, where a side-table row costs a heap tuple and two index entries, and a
 * resource has several (every CodeableConcept.text and Coding.display of every token parameter). A `:text`
 * search reads the arrays of the rows its other criteria leave, as it read the side-table rows before.
 */

/** Key of one `:text` value of a token parameter: `param|text` with the text normalised (normalizeString). */
export function textKey(param: string, normalizedText: string): string {
  return `${param}|${normalizedText}`;
}

/**
 * Normalises a stored reference for indexing: relative `Type/id` (version dropped) or absolute as written.
 * Contained (`#x`), conditional (`Type?…`) and empty references are not searchable and give undefined.
 */
export function normalizeReference(reference: string | undefined): string | undefined {
  if (!reference || reference.startsWith('#') || reference.includes('?')) return undefined;
  const history = reference.indexOf('/_history/');
  return history >= 0 ? reference.slice(0, history) : reference;
}

const TYPE_NAME = /^[A-Z][A-Za-z]+$/;

/** The resource type a reference points to, if it can be read from the reference text. */
export function referenceType(reference: string): string | undefined {
  if (reference.startsWith('urn:')) return undefined;
  const last = reference.lastIndexOf('/');
  if (last < 0) return undefined;
  const type = reference.slice(reference.lastIndexOf('/', last - 1) + 1, last);
  return TYPE_NAME.test(type) ? type : undefined;
}

