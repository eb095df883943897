import { PeriodicTask } from '../periodic.js';
import type { Database } from './database.js';

/*
 * Autovacuum for the embedded database. PGlite runs PostgreSQL as one standalone backend, without the
 * autovacuum launcher a server has: left alone, its tables would never be vacuumed (every update and delete
 * leaves the old row version on disk for good) nor analyzed (the planner would plan every search without
 * statistics). This does what autovacuum does, from a timer, with PostgreSQL's default thresholds. PGlite has
 * one connection, so a VACUUM holds up requests while it runs; the thresholds make that rare and short.
 */

/** PostgreSQL's defaults (autovacuum_vacuum_threshold and friends). */
export const AUTOVACUUM_DEFAULTS = {
  vacuumThreshold: 50,
  vacuumScaleFactor: 0.2,
  insertThreshold: 1000,
  insertScaleFactor: 0.2,
  analyzeThreshold: 50,
  analyzeScaleFactor: 0.1,
};

export type AutovacuumThresholds = typeof AUTOVACUUM_DEFAULTS;

interface TableActivity {
  relname: string;
  n_live_tup: string | number;
  n_dead_tup: string | number;
  n_mod_since_analyze: string | number;
  n_ins_since_vacuum: string | number;
}

/** Vacuums and analyzes the tables that need it, as autovacuum would decide; returns what it did. */
export async function maintainEmbeddedDatabase(
  db: Pick<Database, 'query' | 'exec'>,
  t: AutovacuumThresholds = AUTOVACUUM_DEFAULTS,
): Promise<{ vacuumed: string[]; analyzed: string[] }> {
  // This backend's own counts reach the statistics at the end of a later transaction: have them there now.
  await db.query('SELECT pg_stat_force_next_flush()');
  const stats = await db.query<TableActivity>(
    `SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze, n_ins_since_vacuum
     FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname`,
  );
  const vacuumed: string[] = [];
  const analyzed: string[] = [];
  for (const s of stats.rows) {
    const live = Number(s.n_live_tup);
    const vacuum =
      Number(s.n_dead_tup) > t.vacuumThreshold + t.vacuumScaleFactor * live ||
      Number(s.n_ins_since_vacuum) > t.insertThreshold + t.insertScaleFactor * live;
    const analyze = Number(s.n_mod_since_analyze) > t.analyzeThreshold + t.analyzeScaleFactor * live;
    if (!vacuum && !analyze) continue;
    const table = `"${s.relname.replace(/"/g, '""')}"`;
    await db.exec(vacuum && analyze ? `VACUUM (ANALYZE) ${table}` : vacuum ? `VACUUM ${table}` : `ANALYZE ${table}`);
    if (vacuum) vacuumed.push(s.relname);
    if (analyze) analyzed.push(s.relname);
  }
  return { vacuumed, analyzed };
}

/** Runs maintainEmbeddedDatabase every interval (autovacuum_naptime is a minute) until stopped. */
export class EmbeddedMaintenance {
  private readonly task: PeriodicTask;

  constructor(db: Pick<Database, 'query' | 'exec'>, opts: { intervalMs?: number; log?: { error(obj: object, msg: string): void } } = {}) {
    this.task = new PeriodicTask(
      () => maintainEmbeddedDatabase(db),
      opts.intervalMs ?? 60_000,
      (err) => opts.log?.error({ err }, 'embedded database maintenance failed'),
    );
  }

  start(): void {
    this.task.start();
  }

  /** Stops the timer and waits for a run in progress, so the database can be closed right after. */
  async stop(): Promise<void> {
    await this.task.stop();
  }
}
