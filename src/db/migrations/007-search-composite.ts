/**
 * Composite search parameters (`code-value-quantity=loinc|8480-6$gt140`): one row per value of one component
 * of one element of the parameter's base expression (the Observation, each Observation.component, each
 * Group.characteristic…). A search joins the rows of its components on (resource, param, elem), so all
 * components must match in the same element. Which value columns a row uses depends on the component's type:
 * key (token, uri and reference keys; normalised string with exact as written), low/high with system/code
 * (number, quantity), low_at/high_at (date).
 *
 * Every composite starts with a token or reference component, so a search enters through the lookup index on
 * the first component's key and reaches the other components of the same element through the owner index.
 * Resource types without composite parameters never write here.
 */
export const sql = `
CREATE TABLE fhir_search_composite (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  elem integer NOT NULL,
  part smallint NOT NULL,
  key text,
  exact text,
  low numeric,
  high numeric,
  system text,
  code text,
  low_at timestamptz,
  high_at timestamptz
);
CREATE INDEX fhir_search_composite_lookup ON fhir_search_composite (resource_type, param, part, key);
CREATE INDEX fhir_search_composite_owner ON fhir_search_composite (resource_type, id, param, elem, part);
`;
