import * as fhirStore from './001-fhir-store.js';
import * as search from './002-search.js';
import * as auth from './003-auth.js';
import * as meetings from './004-meetings.js';
import * as bulkExport from './005-bulk-export.js';
import * as organizationTimeZone from './006-organization-time-zone.js';
import * as searchComposite from './007-search-composite.js';
import * as searchTexts from './008-search-texts.js';
import * as auditOutbox from './009-audit-outbox.js';
import * as dropIndexVersionIndex from './010-drop-index-version-index.js';
import * as resourcesInline from './011-resources-inline.js';
import * as partialRefsIndex from './012-partial-refs-index.js';
import * as hashedKeyIndexes from './013-hashed-key-indexes.js';
import * as keyHashColumns from './014-key-hash-columns.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** In order. A migration, once released, is never edited: add a new one. */
export const migrations: Migration[] = [
  { version: 1, name: 'fhir-store', sql: fhirStore.sql },
  { version: 2, name: 'search', sql: search.sql },
  { version: 3, name: 'auth', sql: auth.sql },
  { version: 4, name: 'meetings', sql: meetings.sql },
  { version: 5, name: 'bulk-export', sql: bulkExport.sql },
  { version: 6, name: 'organization-time-zone', sql: organizationTimeZone.sql },
  { version: 7, name: 'search-composite', sql: searchComposite.sql },
  { version: 8, name: 'search-texts', sql: searchTexts.sql },
  { version: 9, name: 'audit-outbox', sql: auditOutbox.sql },
  { version: 10, name: 'drop-index-version-index', sql: dropIndexVersionIndex.sql },
  { version: 11, name: 'resources-inline', sql: resourcesInline.sql },
  { version: 12, name: 'partial-refs-index', sql: partialRefsIndex.sql },
  { version: 13, name: 'hashed-key-indexes', sql: hashedKeyIndexes.sql },
  { version: 14, name: 'key-hash-columns', sql: keyHashColumns.sql },
];
