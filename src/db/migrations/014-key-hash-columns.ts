/**
 * The hashes of the GIN-indexed keys (migration 013) become columns that the server writes with each row, in
 * place of index expressions that computed them.
 *
 * Why: PostgreSQL computed the expression `fhir_token_index_hashes(tokens)` (a PL/pgSQL function: a function
 * call, a query over the array, a regular expression per key) for every row written. perf on PostgreSQL during
 * creates of Patients over HTTP: 9.4% of its CPU in computing index expressions, 8% of it in PL/pgSQL; with the
 * columns, 0.1%, and 12% less PostgreSQL CPU per create. The server computes the same hashes
 * (src/db/hashtext.ts) in about 0.25 µs a key.
 * - Existing rows get their hashes from the same SQL functions here, so rows written before and after agree.
 * - The functions stay: SQL that builds keys (chained searches, `_has`) or writes rows set-wise (the audit
 *   trail) computes hashes with them.
 * - The indexes are built after the columns are filled.
 */
export const sql = `
ALTER TABLE fhir_resources ADD COLUMN token_hashes bigint[] NOT NULL DEFAULT '{}', ADD COLUMN ref_hashes bigint[] NOT NULL DEFAULT '{}';
DROP INDEX IF EXISTS fhir_resources_tokens;
DROP INDEX IF EXISTS fhir_resources_refs;
UPDATE fhir_resources SET token_hashes = fhir_token_index_hashes(tokens), ref_hashes = fhir_key_hashes(refs) WHERE tokens <> '{}'::text[] OR refs <> '{}'::text[];
CREATE INDEX fhir_resources_tokens ON fhir_resources USING gin (token_hashes);
CREATE INDEX fhir_resources_refs ON fhir_resources USING gin (ref_hashes) WHERE ref_hashes <> '{}'::bigint[];
`;
