/**
 * Search side tables: the per-resource index becomes (resource_type, id, param, value-or-low).
 *
 * Sorting by a string, date or number parameter reads the smallest (or largest) value of that parameter of
 * each candidate row. With only (resource_type, id) the planner is free to answer min()/max() by walking the
 * (resource_type, param, low) index and filtering on id — one index scan per row over the whole parameter.
 * With the value in the per-resource index, min()/max() is a single descent for each row. The new index also
 * serves the DELETEs by (resource_type, id), so it replaces the old one and a write maintains no extra index.
 */
export const sql = `
DROP INDEX IF EXISTS fhir_search_string_owner;
CREATE INDEX fhir_search_string_owner ON fhir_search_string (resource_type, id, param, value);
DROP INDEX IF EXISTS fhir_search_date_owner;
CREATE INDEX fhir_search_date_owner ON fhir_search_date (resource_type, id, param, low);
DROP INDEX IF EXISTS fhir_search_number_owner;
CREATE INDEX fhir_search_number_owner ON fhir_search_number (resource_type, id, param, low);
`;
