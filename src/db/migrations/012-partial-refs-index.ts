/**
 * The GIN index on reference keys holds only the rows that have references. A resource without any (most
 * Patients, Practitioners, Organizations) put an "empty" entry into it on every write, which no search ever
 * reads: a reference search matches only rows whose keys include the reference. Conditions on refs state the
 * index's predicate (refsCondition in src/fhir/search/tokens.ts) so that the planner uses it.
 */
export const sql = `
DROP INDEX IF EXISTS fhir_resources_refs;
CREATE INDEX fhir_resources_refs ON fhir_resources USING gin (refs) WHERE refs <> '{}'::text[];
`;
