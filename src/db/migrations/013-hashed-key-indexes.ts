/**
 * The GIN indexes on token and reference keys hold 64-bit hashes of the keys instead of the key texts, and
 * the token index holds only the keys a search enters through.
 *
 * Why: inserting a Synthea-sized Patient's 26 token keys into the GIN index was the largest part of the
 * PostgreSQL CPU of its create, most of it on keys that every Patient shares (`identifier|<system>|`,
 * `deceased||false`): their posting trees are the largest, and each insert re-encodes a compressed posting
 * segment of them. pgbench on the statement a create sends, 10,000 creates per run with the pending list
 * flushed at the end, PostgreSQL CPU per create: on a table of about 500,000 Patients 1,324 µs with text keys,
 * 994 µs with all keys hashed, 751 µs with no token index at all; from an empty table 1,058 µs with text keys
 * and 881 µs with this index. Over HTTP the benchmarks' noise (about 15% run to run) is larger than this.
 * - Keys are hashed with PostgreSQL's own hashtextextended (the hash of hash partitioning): the same values on
 *   every platform and version, and on PGlite. Searches keep their exact text condition beside the hashed
 *   one (src/fhir/search/tokens.ts), so a hash collision can cost a recheck, never a wrong result.
 * - The token index holds the keys whose kind character (the first of `=`, `|`, `:` after the parameter name)
 *   is `=` or `:`: `code=C` (a code in any system, a uri) and `identifier:of-type|…`. The system-specific keys
 *   `code|S|C` and `code||C` are found through `code=C`, which every resource with such a key also has, then
 *   rechecked on the text; `code|S|` (any code of a system) reads the keys without the index.
 * - The functions are written on one line each: migrations are split on statement ends.
 */
export const sql = `
CREATE OR REPLACE FUNCTION fhir_key_hashes(keys text[]) RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$ BEGIN RETURN ARRAY(SELECT hashtextextended(k, 0) FROM unnest(keys) k); END $$;
CREATE OR REPLACE FUNCTION fhir_token_index_hashes(keys text[]) RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$ BEGIN RETURN ARRAY(SELECT hashtextextended(k, 0) FROM unnest(keys) k WHERE k ~ '^[^|=:]*[=:]'); END $$;
DROP INDEX IF EXISTS fhir_resources_tokens;
CREATE INDEX fhir_resources_tokens ON fhir_resources USING gin (fhir_token_index_hashes(tokens));
DROP INDEX IF EXISTS fhir_resources_refs;
CREATE INDEX fhir_resources_refs ON fhir_resources USING gin (fhir_key_hashes(refs)) WHERE refs <> '{}'::text[];
`;
