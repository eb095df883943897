/**
 * Current rows stay inline and uncompressed up to a full page. With PostgreSQL's default threshold (about
 * 2 kB per row) an ordinary Patient — its JSON plus its token and reference arrays — crossed it, so every
 * create and update compressed the row and every read decompressed it: CPU on the hottest path to save
 * disk. Larger rows are still compressed and moved out of line as before. History rows, written once and
 * rarely read, keep the default.
 */
export const sql = `
ALTER TABLE fhir_resources SET (toast_tuple_target = 8160);
`;
