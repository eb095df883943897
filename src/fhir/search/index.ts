import type { Bundle } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.js';
import { executeSearch, type SearchContext } from './execute.js';
import { parseSearchRequest } from './parse.js';

export { extractIndexes } from './extract.js';
export { writeIndexRows, deleteIndexRows, indexRowsSql, type IndexRowsSql } from './index-store.js';
export { parseSearchRequest, type SearchRequest } from './parse.js';
export { executeSearch, searchCompartment, patientCompartmentParams, type SearchContext } from './execute.js';
export { searchParamsForCapabilityStatement } from './parameters.js';

/** Parse and run in one call: the shape the repository's `search` dependency has. */
export function searchResources(
  db: Queryable,
  ctx: SearchContext,
  resourceType: string,
  query: Record<string, string | string[]>,
  opts: { strict: boolean },
): Promise<Bundle> {
  return executeSearch(db, ctx, parseSearchRequest(resourceType, query, opts));
}
