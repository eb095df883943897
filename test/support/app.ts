import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { buildApp } from '../../src/http/app.js';
import { createTestDatabase, type DatabaseKind } from './db.js';
import type { Database } from '../../src/db/database.js';

export interface TestServer {
  app: FastifyInstance;
  db: Database;
  close(): Promise<void>;
}

/** The whole HTTP server on a fresh database, for app.inject() tests. */
export async function createTestServer(kind: DatabaseKind, env: Record<string, string> = {}): Promise<TestServer> {
  const database = await createTestDatabase(kind);
  const config = loadConfig({ PUBLIC_BASE_URL: 'http://fhir.test', DEMO_DATA: 'false', ...env });
  const app = await buildApp({ config, db: database.db, store: createDefaultFhirStore(database.db) });
  await app.ready();
  return {
    app,
    db: database.db,
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}
