/**
 * The btree on fhir_resources.index_version served only `npm run reindex`, and cost every write of every
 * resource (AuditEvents included) one more index entry. The reindex now walks the primary key in order and
 * filters on the column (src/fhir/maintenance/reindex.ts).
 */
export const sql = `
DROP INDEX IF EXISTS fhir_resources_index_version;
`;
