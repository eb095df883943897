import type { Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { buildAuditEvent } from './audit-event.js';
import { insertAuditEvents, type AuditIndexing, type PendingAuditEvent } from './audit-store.js';

/** One successful read or vread of one resource. */
export interface ReadAccess {
  orgId: string;
  interaction: 'read' | 'vread';
  principal?: Principal;
  address?: string;
  /** e.g. "Patient/123" or "Patient/123/_history/2" */
  what: string;
  at?: Date;
}

/** Resources listed in one AuditEvent of folded reads at most; past it the next reads start a new event. */
export const MAX_READS_PER_EVENT = 100;

interface ReadGroup {
  first: ReadAccess;
  whats: Set<string>;
  start: Date;
  end: Date;
}

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
 *
 * Successful reads are folded: the reads one caller (same agent, address and interaction) makes of its org
 * between two flushes become one AuditEvent listing each resource read as an `entity`, with the `period` the
 * reads took place in, as DICOM/ATNA audit messages list the instances accessed. Stored one event per read,
 * the audit trail cost more than the reads themselves (an indexed resource written for a primary-key lookup);
 * folded, who read what and when (to within the flush interval) is still one search away
 * (`AuditEvent?entity=Patient/123`). Failed reads stay one event each.
 */
export class AuditBatchWriter {
  private queue: PendingAuditEvent[] = [];
  private readonly reads = new Map<string, ReadGroup>();
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

  /** events waiting to be stored, counting each caller's folded reads as one */
  get pending(): number {
    return this.queue.length + this.reads.size;
  }

  enqueue(item: PendingAuditEvent): void {
    this.queue.push(item);
    if (this.queue.length >= this.maxBatch) void this.flush();
  }

  /** Records a successful read, folded into the caller's current read event. */
  recordRead(access: ReadAccess): void {
    const at = access.at ?? new Date();
    const p = access.principal;
    const key = `${access.orgId}\n${access.interaction}\n${p?.kind ?? ''}\n${p?.subject ?? ''}\n${p?.fhirUser ?? ''}\n${access.address ?? ''}`;
    let group = this.reads.get(key);
    if (!group) {
      group = { first: access, whats: new Set(), start: at, end: at };
      this.reads.set(key, group);
    }
    group.whats.add(access.what);
    if (at < group.start) group.start = at;
    if (at > group.end) group.end = at;
    if (group.whats.size >= MAX_READS_PER_EVENT) {
      this.reads.delete(key);
      this.enqueue(readEvent(group));
    }
  }

  /** Stores everything queued so far; concurrent calls wait for the same work. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    for (const group of this.reads.values()) this.queue.push(readEvent(group));
    this.reads.clear();
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

function readEvent(group: ReadGroup): PendingAuditEvent {
  const { orgId, interaction, principal, address } = group.first;
  return {
    orgId,
    event: buildAuditEvent({ interaction, outcome: '0', principal, address, whats: [...group.whats], period: { start: group.start, end: group.end } }),
  };
}
