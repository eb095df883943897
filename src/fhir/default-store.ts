import { auditWriteSql } from '../audit/write-hook.js';
import type { Database } from '../db/database.js';
import {
  deleteIndexRows,
  extractIndexes,
  indexRowsSql,
  searchCompartment,
  searchParamsForCapabilityStatement,
  searchResources,
  writeIndexRows,
} from './search/index.js';
import type { RepositoryDependencies } from './repository/postgres-repository.js';
import { createFhirStore, type FhirStore } from './store.js';
import { loadValidationDefinitions, validateResource } from './validation/validate.js';

/** The FHIR store with the product's validation and search modules; `overrides` replaces some of them. */
export function createDefaultFhirStore(db: Database, overrides: Partial<RepositoryDependencies> = {}): FhirStore {
  loadValidationDefinitions();
  return createFhirStore(
    db,
    {
      validate: validateResource,
      extractIndexes,
      writeIndexRows,
      indexRowsSql,
      deleteIndexRows,
      onWriteSql: auditWriteSql,
      search: (tx, ctx, resourceType, query, opts) => searchResources(tx, ctx, resourceType, query, opts),
      searchCompartment: (tx, ctx, args) => searchCompartment(tx, ctx, args),
      ...overrides,
    },
    { searchParams: searchParamsForCapabilityStatement },
  );
}
