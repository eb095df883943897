import type { Database } from '../db/database.js';
import { DRAIN_BATCH, drainAuditOutbox } from './audit-outbox.js';
import { insertAuditEvents, type AuditIndexing, type PendingAuditEvent } from './audit-store.js';
import { AccessFolder, type Access } from './fold.js';

export interface AuditBatchWriterOptions {
  flushIntervalMs?: number;
  /** a flush starts early when this many events wait */
  maxBatch?: number;
  /** told about a failed flush (the events are kept and retried); must not log the events themselves */
  onError?(err: unknown): void;
}

/**
 * Stores the audit trail off the request path, in batches:
 * - the AuditEvents of failed requests, searches, operations and exports, one per request;
 * - successful reads, folded per caller into one AuditEvent per flush (fold.ts): stored one event per read,
 *   the audit trail cost more than the reads themselves (an indexed resource written for a primary-key
 *   lookup);
 * - the records of successful writes, which their write left in audit_outbox, folded the same way.
 * A failed flush keeps its events for the next one, and close() flushes whatever is left, so nothing recorded
 * is lost on an orderly shutdown (write records are in the database already and survive any shutdown).
 */
export class AuditBatchWriter {
  private queue: PendingAuditEvent[] = [];
  private readonly reads = new AccessFolder((event) => this.enqueue(event));
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly maxBatch: number;

  constructor(
    private readonly db: Database,
    private readonly indexing: AuditIndexing,
    private readonly opts: AuditBatchWriterOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 500;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** events waiting in memory, counting each caller's folded reads as one */
  get pending(): number {
    return this.queue.length + this.reads.size;
  }

  enqueue(item: PendingAuditEvent): void {
    this.queue.push(item);
    if (this.queue.length >= this.maxBatch) void this.flush();
  }

  /** Records a successful read, folded into the caller's current read event. */
  recordRead(access: Omit<Access, 'at' | 'interaction'> & { interaction: 'read' | 'vread'; at?: Date }): void {
    this.reads.add({ ...access, at: access.at ?? new Date() });
  }

  /** Stores everything queued so far and drains the write records; concurrent calls wait for the same work. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.queue.push(...this.reads.takeAll());
    this.flushing = this.flushAll().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        // One statement, so it commits or fails as a whole without an explicit transaction.
        await insertAuditEvents(this.db, this.indexing, batch);
      } catch (err) {
        this.queue.unshift(...batch);
        this.opts.onError?.(err);
        return;
      }
    }
    try {
      // A full batch may mean more are waiting; a partial one means the outbox was empty.
      while ((await drainAuditOutbox(this.db, this.indexing)) === DRAIN_BATCH);
    } catch (err) {
      // The records stay in the outbox for the next flush.
      this.opts.onError?.(err);
    }
  }

  /** Stops the timer and stores what is left; throws if it cannot, so the loss is not silent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    if (this.queue.length > 0) throw new Error(`${this.queue.length} audit events could not be stored`);
  }
}
