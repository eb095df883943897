import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { PgliteDatabase, PostgresDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import type { Migration } from '../../src/db/migrations/index.js';

export type DatabaseKind = 'pglite' | 'postgres';

/**
 * The databases tests run on: PGlite always; real PostgreSQL when TEST_DATABASE_URL is set (CI sets it).
 * Use with describe.each(testDatabaseKinds()).
 */
export function testDatabaseKinds(): DatabaseKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/**
 * A fresh, migrated, empty database of that kind. On PostgreSQL it is a new database created next to the one
 * in TEST_DATABASE_URL and dropped by the returned close(), so test files never see each other's rows.
 * `migrations` (all of them by default) are the ones applied, for tests of an upgrade.
 */
export async function createTestDatabase(
  kind: DatabaseKind,
  opts: { migrations?: Migration[] } = {},
): Promise<{ db: Database; url?: string; close: () => Promise<void> }> {
  if (kind === 'pglite') {
    const db = await PgliteDatabase.open();
    await migrate(db, opts.migrations);
    return { db, close: () => db.close() };
  }
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const db = new PostgresDatabase(url.toString());
  await migrate(db, opts.migrations);
  return {
    db,
    url: url.toString(),
    close: async () => {
      await db.close();
      const a = new pg.Client({ connectionString: baseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
