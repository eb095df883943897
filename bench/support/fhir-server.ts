/**
 * The product's server (src/server.ts), run through tsx, with or without search indexing
 * (`BENCH_INDEXING=off`: the store extracts no search values, so a create writes no token or reference keys and
 * no index rows). The search benchmark runs both from this one entry and compares their create throughput to
 * measure what indexing costs a create.
 */
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { EMPTY_INDEXES } from '../../src/fhir/search/types.js';
import { startServer } from '../../src/server.js';

const indexing = process.env.BENCH_INDEXING !== 'off';
await startServer(indexing ? {} : { createStore: (db) => createDefaultFhirStore(db, { extractIndexes: () => EMPTY_INDEXES }) });
