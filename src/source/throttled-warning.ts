import type { Logger } from 'pino';

/**
 * One warning line now, then at most one per interval with the count in between:
 * a broken camera can discard 60 frames a second, and 60 log lines a second would
 * bury everything else.
 */
export class ThrottledWarning {
  private count = 0;
  private lastMs = -Infinity;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    this.count++;
    const now = performance.now();
    if (now - this.lastMs < this.intervalMs) return;
    this.log.warn({ ...fields, count: this.count }, `${message} (${this.count} since the last message)`);
    this.count = 0;
    this.lastMs = now;
  }
}
