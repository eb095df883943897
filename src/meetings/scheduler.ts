import { PeriodicTask } from '../periodic.js';
import type { MeetingService } from './service.js';

export interface MeetingSchedulerOptions {
  meetings: MeetingService;
  intervalSeconds: number;
  idleEndSeconds: number;
  overrunEndSeconds: number;
  now?: () => Date;
  log?: { error(obj: object, msg: string): void };
}

/**
 * The server's own clock for meetings: ends idle and overrun meetings and retries due provider calls. Every
 * step is safe to run on several servers at once (ends are idempotent under the meeting row lock; outbox
 * items are claimed with SKIP LOCKED), so there is no leader election.
 */
export class MeetingScheduler {
  private readonly task: PeriodicTask;

  constructor(private readonly opts: MeetingSchedulerOptions) {
    this.task = new PeriodicTask(() => this.runOnce(), opts.intervalSeconds * 1000, (err) => opts.log?.error({ err }, 'meeting scheduler run failed'));
  }

  start(): void {
    this.task.start();
  }

  /** Stops the timer and waits for a run in progress, so the database can be closed right after. */
  async stop(): Promise<void> {
    await this.task.stop();
  }

  async runOnce(at: Date = (this.opts.now ?? (() => new Date()))()): Promise<{ ended: string[]; delivered: number }> {
    const ended = await this.opts.meetings.endIdleAndOverrun(at, this.opts.idleEndSeconds, this.opts.overrunEndSeconds);
    const delivered = await this.opts.meetings.processDueOutbox(at);
    return { ended, delivered };
  }
}
