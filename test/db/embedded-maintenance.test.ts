import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient } from '@medplum/fhirtypes';
import { EmbeddedMaintenance, maintainEmbeddedDatabase } from '../../src/db/embedded-maintenance.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { createTestDatabase } from '../support/db.js';

// PGlite only: a PostgreSQL server has its own autovacuum.
describe('maintenance of the embedded database', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(() => database.close());

  const activity = async (table: string) => {
    await database.db.query('SELECT pg_stat_force_next_flush()');
    return (
      await database.db.query<{ n_dead_tup: number; n_mod_since_analyze: number; last_vacuum: Date | null; last_analyze: Date | null; reltuples: number }>(
        `SELECT s.n_dead_tup::int, s.n_mod_since_analyze::int, s.last_vacuum, s.last_analyze, c.reltuples::int
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = $1`,
        [table],
      )
    ).rows[0];
  };

  it('vacuums and analyzes what autovacuum would, and only that', async () => {
    const repo = createDefaultFhirStore(database.db).repository({ orgId: 'org-maint', baseUrl: 'http://fhir.test/fhir' });
    const patients: Patient[] = [];
    for (let i = 0; i < 200; i++) patients.push((await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: `Maint${i}` }] })).resource);
    // 120 of 200 rows rewritten: past 50 + 20% of the live rows.
    for (const p of patients.slice(0, 120)) await repo.update<Patient>({ ...p, gender: 'unknown' });
    await database.db.exec('CREATE TABLE maintenance_quiet (id int PRIMARY KEY)');
    await database.db.exec('INSERT INTO maintenance_quiet SELECT g FROM generate_series(1, 10) g');

    const first = await maintainEmbeddedDatabase(database.db);
    expect(first.vacuumed).toContain('fhir_resources');
    expect(first.analyzed).toContain('fhir_resources');
    expect(first.vacuumed).not.toContain('maintenance_quiet');
    expect(first.analyzed).not.toContain('maintenance_quiet');
    const after = await activity('fhir_resources');
    expect(after.n_dead_tup).toBe(0);
    expect(after.last_vacuum).not.toBeNull();
    expect(after.last_analyze).not.toBeNull();
    // The planner now knows the table's size.
    expect(after.reltuples).toBe(200);
    expect((await activity('maintenance_quiet')).last_vacuum).toBeNull();

    // Nothing changed since: nothing to do.
    expect(await maintainEmbeddedDatabase(database.db)).toEqual({ vacuumed: [], analyzed: [] });
    // And the data is what it was.
    expect((await repo.read<Patient>('Patient', patients[5].id!)).gender).toBe('unknown');
    expect((await repo.search('Patient', { 'family:exact': 'Maint19', _total: 'accurate' })).total).toBe(1);
  });

  it('runs on its timer until stopped, and stop waits for a run in progress', async () => {
    await database.db.exec('CREATE TABLE maintenance_timer (id int PRIMARY KEY, v text)');
    await database.db.exec("INSERT INTO maintenance_timer SELECT g, 'a' FROM generate_series(1, 300) g");
    await database.db.exec("UPDATE maintenance_timer SET v = 'b'");
    const errors: unknown[] = [];
    const maintenance = new EmbeddedMaintenance(database.db, { intervalMs: 20, log: { error: (obj) => errors.push(obj) } });
    maintenance.start();
    const deadline = Date.now() + 10_000;
    while ((await activity('maintenance_timer')).last_vacuum === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await maintenance.stop();
    expect((await activity('maintenance_timer')).last_vacuum).not.toBeNull();
    expect(errors).toEqual([]);
    // Stopped: it no longer runs.
    await database.db.exec("UPDATE maintenance_timer SET v = 'c'");
    await new Promise((r) => setTimeout(r, 100));
    expect((await activity('maintenance_timer')).n_dead_tup).toBeGreaterThan(0);
  });
});
