import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../src/db/database.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';
import { migrate } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';

describe.each(testDatabaseKinds())('migrations on %s', (kind) => {
  it('are applied once, and running them again (even concurrently) changes nothing', async () => {
    const { db, close } = await createTestDatabase(kind);
    try {
      const again = await Promise.all([migrate(db), migrate(db)]);
      expect(again).toEqual([[], []]);
      const applied = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
      const tables = await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.rows.map((r) => r.table_name)).toContain('fhir_resources');
    } finally {
      await close();
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('migrations on a PostgreSQL database that is not UTF8', () => {
  it('are refused before anything is written', async () => {
    const base = process.env.TEST_DATABASE_URL!;
    const name = `t_ascii_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    const db = new PostgresDatabase(url.toString());
    try {
      await expect(migrate(db)).rejects.toThrow(/encoding is SQL_ASCII; this server needs a UTF8 database/);
      const tables = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`);
      expect(tables.rows[0].n).toBe(0);
    } finally {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
