/**
 * The FHIR store: current versions, append-only history, and the search index.
 *
 * Search values are extracted at write time (src/fhir/search/extract.ts) into
 *  - tokens text[] / refs text[] on the current row, GIN-indexed (exact-match parameters: token, uri, reference);
 *  - typed side tables for strings, dates and numbers/quantities, which need range or prefix comparisons.
 * There is deliberately no GIN index on resource_data: it slows every insert and is slower than the
 * extracted arrays for token search.
 */
export const sql = `
CREATE TABLE fhir_resources (
  resource_type text NOT NULL,
  id text NOT NULL,
  org_id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content_hash text NOT NULL,
  resource_data jsonb NOT NULL,
  tokens text[] NOT NULL DEFAULT '{}',
  refs text[] NOT NULL DEFAULT '{}',
  index_version integer NOT NULL DEFAULT 0,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resources_org_type_updated ON fhir_resources (org_id, resource_type, last_updated, id);
CREATE INDEX fhir_resources_tokens ON fhir_resources USING gin (tokens);
CREATE INDEX fhir_resources_refs ON fhir_resources USING gin (refs);
CREATE INDEX fhir_resources_index_version ON fhir_resources (index_version);

CREATE TABLE fhir_resource_history (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  org_id text NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  resource_data jsonb,
  PRIMARY KEY (resource_type, id, version_id)
);
CREATE INDEX fhir_resource_history_org_type_updated ON fhir_resource_history (org_id, resource_type, last_updated);

-- value: normalized (lower case, accents removed) for the default and :contains matches; exact: as written.
CREATE TABLE fhir_search_string (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  value text NOT NULL,
  exact text NOT NULL
);
CREATE INDEX fhir_search_string_lookup ON fhir_search_string (resource_type, param, value text_pattern_ops);
CREATE INDEX fhir_search_string_owner ON fhir_search_string (resource_type, id);

-- Every date is a range [low, high] given by its precision (a day, a Period, an instant).
CREATE TABLE fhir_search_date (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  low timestamptz NOT NULL,
  high timestamptz NOT NULL
);
CREATE INDEX fhir_search_date_low ON fhir_search_date (resource_type, param, low);
CREATE INDEX fhir_search_date_high ON fhir_search_date (resource_type, param, high);
CREATE INDEX fhir_search_date_owner ON fhir_search_date (resource_type, id);

-- Numbers and quantities, as a range given by their precision; system and code for quantities.
CREATE TABLE fhir_search_number (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  low numeric NOT NULL,
  high numeric NOT NULL,
  system text,
  code text
);
CREATE INDEX fhir_search_number_lookup ON fhir_search_number (resource_type, param, low);
CREATE INDEX fhir_search_number_owner ON fhir_search_number (resource_type, id);
`;
