import { describe, expect, it } from 'vitest';
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
