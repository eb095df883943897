/**
 * Search values of one resource, extracted at write time from the R4 SearchParameter definitions and stored
 * with the resource in the same transaction (see migration 001 for the tables).
 */
export interface ResourceIndexes {
  /** Exact-match values of token and uri parameters, encoded by encodeToken(). GIN-indexed. */
  tokens: string[];
  /** References, encoded `param|Type/id` (or `param|absolute-url`). GIN-indexed. */
  refs: string[];
  strings: StringIndexRow[];
  dates: DateIndexRow[];
  numbers: NumberIndexRow[];
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

export const EMPTY_INDEXES: ResourceIndexes = { tokens: [], refs: [], strings: [], dates: [], numbers: [] };

/**
 * Version of the extraction rules. Raise it whenever extraction or the SearchParameter definitions change;
 * `npm run reindex` then rebuilds the index of every resource stored with an older version.
 */
export const SEARCH_INDEX_VERSION = 1;
