/**
 * Runs a task on a timer: the next run starts an interval after the previous one ended, so runs never overlap,
 * and stop() waits for a run in progress, so what the task uses (a database) can be closed right after. A
 * failed run is reported and the timer goes on.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const tick = () => {
      this.running = this.run()
        .then(() => undefined)
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(tick);
        });
    };
    this.schedule(tick);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(tick: () => void): void {
    this.timer = setTimeout(tick, this.intervalMs);
    this.timer.unref?.();
  }
}
