import { randomUUID } from 'node:crypto';
import type { ExportConfig } from '../config.js';
import type { Database } from '../db/database.js';
import type { ExportAudit } from './audit.js';
import {
  claimJob,
  completeJob,
  deleteExpiredJobs,
  failJob,
  getJob,
  listTypes,
  releaseJob,
  renewLease,
  saveProgress,
  type ExportFile,
  type ExportJob,
  type JobTypeState,
  type Lease,
} from './job-store.js';
import { buildPageQuery, readPage, type ExportRow } from './snapshot-reader.js';
import type { ExportStorage, PartWriter } from './storage.js';

export type WorkerSettings = Pick<ExportConfig, 'fileMaxBytes' | 'retentionSeconds' | 'workerConcurrency' | 'pageSize' | 'pagePauseMs' | 'leaseSeconds'>;

export interface ExportWorkerOptions {
  db: Database;
  storage: ExportStorage;
  settings: WorkerSettings;
  /** the FHIR base URL, so _typeFilter references written absolute match relative ones */
  baseUrl: string;
  /** names this worker in leases; random by default */
  id?: string;
  audit?: ExportAudit;
  log?: WorkerLog;
  /** how often an idle worker looks for jobs */
  pollIntervalMs?: number;
  /** at most this long between two saved positions of a running job: the work a crash can lose */
  checkpointIntervalMs?: number;
  sweepIntervalMs?: number;
}

export interface WorkerLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A job that keeps failing (database errors, storage errors) stops being retried after this many claims. */
const MAX_ATTEMPTS = 5;
const SWEEP_BATCH = 100;

class LeaseLost extends Error {}
class Stopping extends Error {}

/**
 * Runs export jobs inside a server. Any number of servers may run one each: jobs are claimed with
 * `FOR UPDATE SKIP LOCKED` and leased, the lease is renewed while the job runs, and a job whose server
 * disappears is claimed again when its lease runs out. A claimed job continues from the position its last
 * checkpoint saved. The worker also deletes expired jobs and their files.
 */
export class ExportWorker {
  readonly id: string;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private pollTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private started = false;

  constructor(private readonly opts: ExportWorkerOptions) {
    this.id = opts.id ?? `export-worker-${randomUUID()}`;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedulePoll(0);
    this.sweepTimer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
    void this.sweep();
  }

  /** A job was queued: look now rather than at the next poll. */
  wake(): void {
    if (this.started) this.schedulePoll(0);
  }

  /**
   * Stops taking jobs; running jobs save their position at the next page and are released at once, so another
   * server (or this one after a restart) continues them.
   */
  async stop(): Promise<void> {
    this.started = false;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const job of this.running.values()) job.abort.abort(new Stopping());
    await this.polling;
    await Promise.all([...this.running.values()].map((j) => j.done));
  }

  /** The job was cancelled through this server: stop it now rather than at its next lease renewal. */
  interrupt(jobId: string): void {
    this.running.get(jobId)?.abort.abort(new LeaseLost());
  }

  get activeJobs(): string[] {
    return [...this.running.keys()];
  }

  private schedulePoll(delayMs: number): void {
    if (!this.started) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        this.schedulePoll(this.opts.pollIntervalMs ?? 1000);
      });
    }, delayMs);
    this.pollTimer.unref();
  }

  private async poll(): Promise<void> {
    try {
      while (this.started && this.running.size < this.opts.settings.workerConcurrency) {
        const claimed = await claimJob(this.opts.db, this.id, this.opts.settings.leaseSeconds);
        if (!claimed || !this.started) {
          if (claimed) await releaseJob(this.opts.db, claimed.lease, 0);
          return;
        }
        const abort = new AbortController();
        const done = this.runJob(claimed.job, claimed.lease, abort).finally(() => {
          this.running.delete(claimed.job.id);
          this.schedulePoll(0);
        });
        this.running.set(claimed.job.id, { abort, done });
      }
    } catch (err) {
      this.opts.log?.error({ err }, 'export worker could not claim a job; will retry');
    }
  }

  private async sweep(): Promise<void> {
    try {
      for (;;) {
        const ids = await deleteExpiredJobs(this.opts.db, SWEEP_BATCH);
        for (const id of ids) await this.opts.storage.removeJob(id);
        if (ids.length < SWEEP_BATCH) return;
      }
    } catch (err) {
      this.opts.log?.error({ err }, 'expired exports could not be removed yet; will retry');
    }
  }

  private async runJob(job: ExportJob, lease: Lease, abort: AbortController): Promise<void> {
    const { db, settings } = this.opts;
    const signal = abort.signal;
    // Renewed apart from the pages, so a slow page does not cost the lease; a renewal refused means the job
    // was cancelled or taken over, and the job stops at its next page.
    const heartbeat = setInterval(() => {
      renewLease(db, lease, settings.leaseSeconds)
        .then((held) => {
          if (!held) abort.abort(new LeaseLost());
        })
        .catch(() => undefined);
    }, (settings.leaseSeconds * 1000) / 3);
    heartbeat.unref();
    try {
      for (const state of await listTypes(db, job.id)) {
        if (!state.done) await this.exportType(job, lease, state, signal);
      }
      if (await completeJob(db, lease, settings.retentionSeconds)) {
        const finished = await getJob(db, job.id);
        this.opts.audit?.exportFinished(job, finished?.exported ?? job.exported, '0');
        this.opts.log?.info({ jobId: job.id, exported: finished?.exported }, 'export completed');
      } else {
        await this.lost(job);
      }
    } catch (err) {
      if (err instanceof Stopping) {
        await releaseJob(db, lease, 0).catch(() => undefined);
      } else if (err instanceof LeaseLost) {
        await this.lost(job);
      } else {
        await this.failed(job, lease, err);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** The job is not ours any more: cancelled (its files go) or taken over by another worker (nothing to do). */
  private async lost(job: ExportJob): Promise<void> {
    const now = await getJob(this.opts.db, job.id).catch(() => undefined);
    if (!now || now.status === 'cancelled') await this.opts.storage.removeJob(job.id).catch(() => undefined);
  }

  private async failed(job: ExportJob, lease: Lease, err: unknown): Promise<void> {
    const { db, settings } = this.opts;
    this.opts.log?.error({ err, jobId: job.id, attempt: lease.attempt }, 'export job failed');
    try {
      if (lease.attempt >= MAX_ATTEMPTS) {
        if (await failJob(db, lease, 'The export failed repeatedly; the server log has the details', settings.retentionSeconds)) {
          this.opts.audit?.exportFinished(job, job.exported, '8');
        }
      } else {
        // Back off before the next claim, so a failing database or disk is not hammered.
        await releaseJob(db, lease, 5 * 2 ** lease.attempt);
      }
    } catch (releaseError) {
      this.opts.log?.error({ err: releaseError, jobId: job.id }, 'export job could not be released; its lease will run out');
    }
  }

  private async exportType(job: ExportJob, lease: Lease, state: JobTypeState, signal: AbortSignal): Promise<void> {
    const { db, storage, settings } = this.opts;
    const query = buildPageQuery(
      {
        orgId: job.orgId,
        baseUrl: this.opts.baseUrl,
        resourceType: state.resourceType,
        transactionTime: job.transactionTime,
        since: job.request.since,
        typeFilters: job.request.typeFilters[state.resourceType],
        patients: job.request.level === 'system' ? undefined : (job.request.patientIds ?? 'all'),
      },
      settings.pageSize,
    );
    const partKey = () => `${job.id}/${state.resourceType}.${state.partSeq}.a${lease.attempt}.ndjson`;
    let writer: PartWriter | undefined;
    let unsaved = 0;
    let lastSave = Date.now();
    let previousAttemptFile: string | undefined;

    const save = async (file?: ExportFile) => {
      if (writer) await writer.sync();
      if (!(await saveProgress(db, lease, settings.leaseSeconds, state, unsaved, file))) throw new LeaseLost();
      unsaved = 0;
      lastSave = Date.now();
      if (previousAttemptFile) {
        await storage.remove(previousAttemptFile).catch(() => undefined);
        previousAttemptFile = undefined;
      }
    };
    const finishPart = async () => {
      if (!writer || state.partKey === null) return;
      await writer.sync();
      await writer.close();
      writer = undefined;
      const file: ExportFile = {
        name: `${state.resourceType}.${state.partSeq}.ndjson`,
        storageKey: state.partKey,
        resourceType: state.resourceType,
        kind: 'output',
        count: state.partCount,
        bytes: state.partBytes,
      };
      state.partSeq += 1;
      state.partKey = null;
      state.partCount = 0;
      state.partBytes = 0;
      await save(file);
    };

    // Resume: the file being written continues from its saved size; bytes written after that are dropped.
    if (state.partKey !== null && state.partBytes > 0) {
      const key = partKey();
      writer = await storage.openPart(key, { size: state.partBytes, from: state.partKey });
      if (state.partKey !== key) previousAttemptFile = state.partKey;
      state.partKey = key;
    } else {
      state.partKey = null;
      state.partCount = 0;
    }

    try {
      let next: Promise<ExportRow[]> | undefined = readPage(db, query, state.afterId);
      while (next) {
        const rows: ExportRow[] = await next;
        next = undefined;
        if (signal.aborted) {
          // An orderly stop keeps what was written; a lost lease must not write anything more.
          if (signal.reason instanceof Stopping) await save();
          throw signal.reason;
        }
        // The next page is read while this one is written.
        if (rows.length === settings.pageSize) {
          next = readPage(db, query, rows[rows.length - 1].id);
          next.catch(() => undefined);
        }
        let lines: string[] = [];
        const flush = async () => {
          if (lines.length === 0) return;
          const chunk = Buffer.from(lines.join(''), 'utf8');
          lines = [];
          await (writer as PartWriter).write(chunk);
        };
        for (const row of rows) {
          const line = `${row.json}\n`;
          const bytes = Buffer.byteLength(line);
          if (state.partCount > 0 && state.partBytes + bytes > settings.fileMaxBytes) {
            await flush();
            await finishPart();
          }
          if (!writer) {
            state.partKey = partKey();
            writer = await storage.openPart(state.partKey, { size: 0 });
          }
          lines.push(line);
          state.partBytes += bytes;
          state.partCount += 1;
          state.exported += 1;
          state.afterId = row.id;
          unsaved += 1;
        }
        await flush();
        if (next) {
          if (Date.now() - lastSave >= (this.opts.checkpointIntervalMs ?? 1000)) await save();
          if (settings.pagePauseMs > 0) await new Promise((r) => setTimeout(r, settings.pagePauseMs));
        }
      }
      await finishPart();
      state.done = true;
      await save();
    } finally {
      if (writer) await writer.close().catch(() => undefined);
    }
  }
}
