import type { Database } from './database.js';
import { migrations as allMigrations, type Migration } from './migrations/index.js';

// Any constant will do; it only has to be the same for every server of this product.
const MIGRATION_LOCK_KEY = 7_306_301;

/**
 * Applies the migrations not yet applied, in one transaction holding an advisory lock, so two servers
 * starting at once neither apply a migration twice nor see a half-migrated schema.
 */
export async function migrate(db: Database, migrations: Migration[] = allMigrations): Promise<number[]> {
  await requireUtf8(db);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(done.rows.map((r) => r.version));
    const ran: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      // Split on statement ends so the same code runs over a transaction on both drivers.
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      ran.push(m.version);
    }
    return ran;
  });
}

/**
 * Migrations are plain DDL written by us: statements end with ';' at the end of a line, and a function body
 * (dollar-quoted) is written on the line of its CREATE FUNCTION.
 */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}

/**
 * FHIR text is Unicode, and the hashed key indexes need the database to hash a key's UTF-8 bytes exactly as the
 * server does (src/db/hashtext.ts): a database in another encoding is refused before anything is written.
 */
async function requireUtf8(db: Database): Promise<void> {
  const r = await db.query<{ encoding: string }>("SELECT current_setting('server_encoding') AS encoding");
  const encoding = r.rows[0]?.encoding;
  if (encoding !== 'UTF8') {
    throw new Error(`The database's encoding is ${encoding}; this server needs a UTF8 database (CREATE DATABASE … ENCODING 'UTF8')`);
  }
}
