/**
 * The GIN indexes on token and reference keys hold 64-bit hashes of the keys instead of the key texts, and
 * the token index holds only the keys a search enters through.
 *
 * Why: a create of a Synthea-sized Patient spent about 40% of its PostgreSQL CPU inserting its 26 token keys
 * into the GIN index, most of it on keys that every Patient shares (`identifier|<system>|`, `deceased||false`):
 * their posting trees are the largest, and each insert re-encodes a compressed posting segment of them.
 * Measured with pgbench on the statement a create sends (10,000 creates, pending list flushed at the end):
 * 1,324 µs of PostgreSQL CPU per create with text keys, 994 with hashed keys, 833 with hashed keys and the
 * token index limited as below.
 *
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
