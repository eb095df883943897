import * as fhirStore from './001-fhir-store.js';
import * as search from './002-search.js';
import * as meetings from './004-meetings.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** In order. A migration, once released, is never edited: add a new one. */
export const migrations: Migration[] = [
  { version: 1, name: 'fhir-store', sql: fhirStore.sql },
  { version: 2, name: 'search', sql: search.sql },
  { version: 4, name: 'meetings', sql: meetings.sql },
];
