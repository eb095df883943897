import type { Database } from '../db/database.js';
import { insertAuditEvents, type AuditIndexing, type PendingAuditEvent } from './audit-store.js';

export interface AuditBatchWriterOptions {
  flushIntervalMs?: number;
  /** a flush starts early when this many events wait */
  maxBatch?: number;
  /** told about a failed flush (the events are kept and retried); must not log the events themselves */
  onError?(err: unknown): void;
}

/**
 * Collects the AuditEvents of reads and failed requests and stores them in batches, off the request path. A
 * failed flush keeps its events for the next one, and close() flushes whatever is left, so nothing recorded
 * is lost on an orderly shutdown.
 */
export class AuditBatchWriter {
  private queue: PendingAuditEvent[] = [];
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

  get pending(): number {
    return this.queue.length;
  }

  enqueue(item: PendingAuditEvent): void {
    this.queue.push(item);
    if (this.queue.length >= this.maxBatch) void this.flush();
  }

  /** Stores everything queued so far; concurrent calls wait for the same work. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    this.flushing = this.flushQueue().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushQueue(): Promise<void> {
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
  }

  /** Stops the timer and stores what is left; throws if it cannot, so the loss is not silent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    if (this.queue.length > 0) throw new Error(`${this.queue.length} audit events could not be stored`);
  }
}
