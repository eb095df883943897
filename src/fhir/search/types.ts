/**
 * Search values of one resource, extracted at write time from the R4 SearchParameter definitions and stored
 * with the resource in the same transaction (see migration 001 for the tables).
 */
export interface ResourceIndexes {
  /** Exact-match values of token and uri parameters, encoded by encodeToken(). GIN-indexed. */
  tokens: string[];
  /** References, encoded `param|Type/id` (or `param|absolute-url`). GIN-indexed. */
  refs: string[];
  /**
   * The text of coded values for a token parameter's `:text` modifier (CodeableConcept.text, Coding.display,
   * Identifier.type.text), encoded by textKey(). Not indexed: see textKey().
   */
  texts: string[];
  strings: StringIndexRow[];
  dates: DateIndexRow[];
  numbers: NumberIndexRow[];
  /**
   * Components of composite parameters, one row per value of one component of one element. Absent when the
   * resource type has no composite parameter, so writes of those types never touch fhir_search_composite.
   */
  composites?: CompositeIndexRow[];
}

export interface StringIndexRow {
  param: string;
  /** lower case, accents removed */
  value: string;
  /** as written */
  exact: string;
}

export interface DateIndexRow {
  param: string;
  /** ISO instants (UTC) bounding the value by its precision */
  low: string;
  high: string;
}

export interface NumberIndexRow {
  param: string;
  low: number;
  high: number;
  system?: string;
  code?: string;
}

/**
 * One value of one component (`part`, 0-based in the order of the search value `a$b`) of one element (`elem`)
 * of a composite parameter. A composite search matches when every component matches in rows of the same elem.
 * Which columns are set depends on the component's type: `key` for token, uri and reference (the keys of
 * tokens.ts with an empty parameter name) and for string (normalised, with `exact` as written); low/high with
 * system/code for number and quantity; lowAt/highAt for date.
 */
export interface CompositeIndexRow {
  /** the row set: the parameter's code, or the code of the parameter whose rows it shares (SearchParamDef.storage) */
  param: string;
  elem: number;
  part: number;
  key?: string;
  exact?: string;
  low?: number;
  high?: number;
  system?: string;
  code?: string;
  lowAt?: string;
  highAt?: string;
}

/**
 * No search values at all. `composites` is an empty list rather than absent, so that writing these indexes over
 * a resource's old ones (a delete) removes its composite rows too.
 */
export const EMPTY_INDEXES: ResourceIndexes = { tokens: [], refs: [], texts: [], strings: [], dates: [], numbers: [], composites: [] };

/**
 * Version of the extraction rules. Raise it whenever extraction or the SearchParameter definitions change;
 * `npm run reindex` then rebuilds the index of every resource stored with an older version.
 */
export const SEARCH_INDEX_VERSION = 3;
