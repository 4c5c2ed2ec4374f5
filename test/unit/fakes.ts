import { EventEmitter } from 'node:events';
import type { TestContext } from 'node:test';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory, type Frame } from '../../src/frame/frame.js';
import type { FrameSink, SendDone } from '../../src/stream/frame-sink.js';

/** A few bytes standing in for a JPEG: nothing on these paths parses it. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

/** A pool and a factory whose frames carry the capture time the test chooses. */
export class Frames {
  readonly pool = new BufferPool();
  readonly factory = new FrameFactory(this.pool);

  /** A new frame (one reference, the caller's) captured at `monoMs`. */
  make(monoMs = 0): Frame {
    return this.factory.fromJpeg(JPEG, { monoMs, wallMicros: Math.round(monoMs * 1000) });
  }

  get inUse(): number {
    return this.pool.stats().inUse;
  }
}

export interface Send {
  frame: Frame;
  done: SendDone;
  /** Whether the test has called `done` yet. */
  finished: boolean;
}

/**
 * A FrameSink whose writes complete only when the test says so, like a socket whose
 * write callbacks the test controls. It records every send, end and destroy, and
 * emits 'close' / 'error' on demand (a real socket emits 'close' after destroy()).
 */
export class FakeSink implements FrameSink {
  readonly sends: Send[] = [];
  ends = 0;
  destroys = 0;
  private readonly events = new EventEmitter();

  send(frame: Frame, done: SendDone): number {
    this.sends.push({ frame, done, finished: false });
    return frame.part.length;
  }

  end(): void {
    this.ends++;
  }

  destroy(): void {
    this.destroys++;
  }

  on(event: 'close' | 'error', listener: () => void): this {
    this.events.on(event, listener);
    return this;
  }

  emit(event: 'close' | 'error'): void {
    this.events.emit(event);
  }

  /** Sends whose callback has not run yet. */
  get pending(): Send[] {
    return this.sends.filter((send) => !send.finished);
  }

  /** Sequence numbers of every frame sent so far, in order. */
  get sequences(): number[] {
    return this.sends.map((send) => send.frame.sequence);
  }

  /** Runs the oldest pending send's callback: written, or failed with `error`. */
  complete(error: Error | null = null): void {
    const send = this.pending[0];
    if (send === undefined) throw new Error('no send in flight');
    send.finished = true;
    send.done(error);
  }
}

/**
 * A FakeSink whose writes complete by themselves on a later turn of the event loop,
 * as a socket's write callbacks do. Tests wait for a given frame to arrive, never
 * for a fixed time.
 */
export class SelfCompletingSink extends FakeSink {
  private waiters: { sequence: number; resolve: () => void }[] = [];

  override send(frame: Frame, done: SendDone): number {
    const bytes = super.send(frame, done);
    // Sends complete oldest first, one per turn scheduled here.
    setImmediate(() => this.complete());
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.sequence !== frame.sequence) return true;
      waiter.resolve();
      return false;
    });
    return bytes;
  }

  /** Resolves once frame `sequence` was sent here. */
  received(sequence: number): Promise<void> {
    if (this.sequences.includes(sequence)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ sequence, resolve }));
  }

  /** Resolves once no write is in flight (each completes on a check phase). */
  async idle(): Promise<void> {
    while (this.pending.length > 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface FakeClock {
  /** What performance.now() returns. */
  now: number;
  /** Moves the clock by `ms` and runs the setTimeout callbacks now due. */
  advance(ms: number): void;
}

/**
 * Fake setTimeout and performance.now for the rest of test `t` (both restored after
 * it). Node's fake timers run due callbacks after the clock has moved the whole
 * step, so tests step exactly to the instants they care about.
 */
export function useFakeClock(t: TestContext, startMs = 1000): FakeClock {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const clock: FakeClock = {
    now: startMs,
    advance(ms: number): void {
      clock.now += ms;
      t.mock.timers.tick(ms);
    },
  };
  t.mock.method(performance, 'now', () => clock.now);
  return clock;
}
