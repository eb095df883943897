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
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: MeetingSchedulerOptions) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const tick = () => {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.log?.error({ err }, 'meeting scheduler run failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalSeconds * 1000);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalSeconds * 1000);
    this.timer.unref?.();
  }

  /** Stops the timer and waits for a run in progress, so the database can be closed right after. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async runOnce(at: Date = (this.opts.now ?? (() => new Date()))()): Promise<{ ended: string[]; delivered: number }> {
    const ended = await this.opts.meetings.endIdleAndOverrun(at, this.opts.idleEndSeconds, this.opts.overrunEndSeconds);
    const delivered = await this.opts.meetings.processDueOutbox(at);
    return { ended, delivered };
  }
}
