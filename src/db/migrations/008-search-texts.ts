/**
 * The texts of coded values for the token `:text` modifier move from fhir_search_string rows to an unindexed
 * array on the resource row (see textKey in src/fhir/search/tokens.ts). Adding a column with a constant
 * default rewrites nothing; `npm run reindex` (search index version 3) moves the values of stored resources.
 */
export const sql = `
ALTER TABLE fhir_resources ADD COLUMN texts text[] NOT NULL DEFAULT '{}';
`;
