import type { Database } from '../db/database.js';
import { notSupported } from './outcomes.js';
import { extractIndexes } from './search/extract.js';
import { createFhirStore, type FhirStore } from './store.js';
import { loadValidationDefinitions, validateResource } from './validation/validate.js';

/** The FHIR store with the product's validation and search modules. */
export function createDefaultFhirStore(db: Database): FhirStore {
  loadValidationDefinitions();
  return createFhirStore(
    db,
    {
      validate: validateResource,
      extractIndexes,
      writeIndexRows: async () => undefined,
      deleteIndexRows: async () => undefined,
      search: async () => {
        throw notSupported('search is not available yet');
      },
    },
    { searchParams: () => [] },
  );
}
