import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory, type Frame } from '../../src/frame/frame.js';
import { SourceError } from '../../src/source/errors.js';
import type { Source, SourceContext } from '../../src/source/source.js';
import {
  SourceSupervisor,
  type SourceState,
  type SupervisorClock,
  type SupervisorOptions,
  type SupervisorTimer,
} from '../../src/stream/source-supervisor.js';

// Node 20's mock timers accept Timeout.refresh() but do not move the deadline, and
// the stall watchdog re-arms with refresh() on every frame: so these tests drive
// the supervisor through its injectable clock instead.

/** A one-shot timer of FakeClock; refresh() re-arms it from now, even after it fired (as Node's does). */
class FakeTimer implements SupervisorTimer {
  dueMs: number;
  pending = true;
  cleared = false;
  constructor(
    private readonly clock: FakeClock,
    readonly callback: () => void,
    readonly ms: number,
  ) {
    this.dueMs = clock.nowMs + ms;
  }
  refresh(): this {
    if (!this.cleared) {
      this.dueMs = this.clock.nowMs + this.ms;
      this.pending = true;
    }
    return this;
  }
  unref(): this {
    return this;
  }
}

/** Time that moves only when the test says so. */
class FakeClock implements SupervisorClock {
  // Not 0: the supervisor treats a live-since time of 0 as "never live".
  nowMs = 1000;
  private readonly timers: FakeTimer[] = [];
  now(): number {
    return this.nowMs;
  }
  setTimeout(callback: () => void, ms: number): FakeTimer {
    const timer = new FakeTimer(this, callback, ms);
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(timer: SupervisorTimer): void {
    const fake = timer as FakeTimer;
    fake.cleared = true;
    fake.pending = false;
  }
  /**
   * Moves time forward by `ms`, firing due timers in deadline order, and lets the
   * promise chains each one starts run to completion before the next fires.
   */
  async advance(ms: number): Promise<void> {
    const endMs = this.nowMs + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.timers) if (timer.pending && timer.dueMs <= endMs && (next === undefined || timer.dueMs < next.dueMs)) next = timer;
      if (next === undefined) break;
      this.nowMs = next.dueMs;
      next.pending = false;
      next.callback();
      await settle();
    }
    this.nowMs = endMs;
  }
}

/** Runs every queued promise continuation (a setImmediate comes after the whole microtask queue). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What the next start() does: succeed at once, fail with an error, or wait until the test settles it. */
type StartPlan = { kind: 'ok' } | { kind: 'fail'; error: Error } | { kind: 'hold' };

/** A source the test controls: how each start ends, and when frames or failures happen. */
class FakeSource implements Source {
  readonly url = 'test:fake';
  readonly nominalFps = undefined;
  readonly contexts: SourceContext[] = [];
  plans: StartPlan[] = [];
  stops = 0;
  private held: { resolve: () => void; reject: (error: Error) => void } | undefined;

  start(context: SourceContext): Promise<void> {
    this.contexts.push(context);
    const plan = this.plans.shift() ?? { kind: 'ok' };
    if (plan.kind === 'fail') return Promise.reject(plan.error);
    if (plan.kind === 'ok') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.held = { resolve, reject };
    });
  }
  stop(): Promise<void> {
    this.stops++;
    return Promise.resolve();
  }
  get starts(): number {
    return this.contexts.length;
  }
  /** The context of the latest start. */
  get context(): SourceContext {
    const context = this.contexts.at(-1);
    assert.ok(context !== undefined, 'the source was never started');
    return context;
  }
  /** Ends a start planned as 'hold'. */
  finishStart(): void {
    assert.ok(this.held !== undefined, 'no start is being held');
    this.held.resolve();
    this.held = undefined;
  }
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x02, 0xff, 0xd9]);
const silent = pino({ level: 'silent' });

interface Harness {
  clock: FakeClock;
  source: FakeSource;
  supervisor: SourceSupervisor;
  pool: BufferPool;
  /** Sequences of the frames the supervisor delivered (each released by the test's deliver, as a camera would). */
  delivered: number[];
  states: SourceState[];
  /** Publishes a frame captured now through `context` (default: the latest start's). */
  publish(context?: SourceContext): Frame;
}

function harness(t: TestContext, options: Partial<SupervisorOptions> = {}): Harness {
  const clock = new FakeClock();
  const source = new FakeSource();
  const pool = new BufferPool();
  const frames = new FrameFactory(pool);
  const delivered: number[] = [];
  const states: SourceState[] = [];
  const inUseAtStart = pool.stats().inUse;
  const supervisor = new SourceSupervisor(
    source,
    frames,
    silent,
    (frame) => {
      delivered.push(frame.sequence);
      frame.release();
    },
    { stallTimeoutMs: 1_000_000, initialRetryMs: 1000, maxRetryMs: 8000, stableAfterMs: 10_000, ...options, clock },
  );
  supervisor.onStateChange = (state) => states.push(state);
  // Every path must hand every pooled buffer back: delivered ones via deliver, stale ones via the supervisor.
  t.after(() => assert.equal(pool.stats().inUse, inUseAtStart, 'every frame went back to the pool'));
  return {
    clock,
    source,
    supervisor,
    pool,
    delivered,
    states,
    publish(context = source.context) {
      const frame = frames.fromJpeg(JPEG, { monoMs: clock.nowMs, wallMicros: Math.round(clock.nowMs * 1000) });
      context.publish(frame);
      return frame;
    },
  };
}

/** The delay the supervisor chose for the retry it is waiting on (exact: retryInSeconds is taken at the same fake instant). */
function retryDelayMs(supervisor: SourceSupervisor): number {
  const status = supervisor.status();
  assert.equal(status.state, 'retrying');
  assert.ok(status.retryInSeconds !== null);
  return Math.round(status.retryInSeconds * 1000);
}

/** Asserts the next start happens exactly `ms` from now: not 1 ms earlier. */
async function expectStartAfter(h: Harness, ms: number): Promise<void> {
  const starts = h.source.starts;
  await h.clock.advance(ms - 1);
  assert.equal(h.source.starts, starts, `no start before ${ms} ms`);
  await h.clock.advance(1);
  assert.equal(h.source.starts, starts + 1, `a start at ${ms} ms`);
}

test('failed starts back off from initialRetryMs, doubling up to maxRetryMs', async (t) => {
  t.mock.method(Math, 'random', () => 0.5); // no jitter: the factor is exactly 1
  const h = harness(t, { initialRetryMs: 1000, maxRetryMs: 8000 });
  h.source.plans = Array.from({ length: 6 }, () => ({ kind: 'fail', error: new SourceError('camera unplugged') }));
  h.supervisor.start();
  await settle();
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const delay = retryDelayMs(h.supervisor);
    delays.push(delay);
    await expectStartAfter(h, delay);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
  assert.equal(h.supervisor.status().restarts, 6);
  assert.equal(h.source.stops, 6, 'each failure stops the source before the retry');
});

test('jitter stays within ±20 %: Math.random at 0 gives 0.8×, at its top 1.2×', async (t) => {
  const random = t.mock.method(Math, 'random', () => 0);
  const h = harness(t, { initialRetryMs: 1000, maxRetryMs: 8000 });
  h.source.plans = Array.from({ length: 4 }, () => ({ kind: 'fail', error: new SourceError('refused') }));
  h.supervisor.start();
  await settle();
  assert.equal(retryDelayMs(h.supervisor), 800);
  // The delay is drawn when the start fails, so pin Math.random before the next start.
  random.mock.mockImplementation(() => 1 - Number.EPSILON); // Math.random() < 1: its largest value
  await expectStartAfter(h, 800);
  assert.equal(retryDelayMs(h.supervisor), 2400, '1.2 × 2000');

  random.mock.mockImplementation(() => 0);
  await expectStartAfter(h, 2400);
  assert.equal(retryDelayMs(h.supervisor), 3200, '0.8 × 4000');
});

test('live for stableAfterMs resets the backoff to initialRetryMs; live for less does not', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t, { initialRetryMs: 1000, maxRetryMs: 30_000, stableAfterMs: 10_000 });
  h.source.plans = [
    { kind: 'fail', error: new SourceError('a') },
    { kind: 'fail', error: new SourceError('b') },
  ];
  h.supervisor.start();
  await settle();
  await expectStartAfter(h, 1000);
  await expectStartAfter(h, 2000);
  await settle();
  h.publish();
  assert.equal(h.supervisor.currentState, 'live');

  // Live 1 ms short of stable: the ladder carries on at 4 s.
  await h.clock.advance(9_999);
  h.source.context.fail(new SourceError('dropped'));
  await settle();
  assert.equal(retryDelayMs(h.supervisor), 4000);
  await expectStartAfter(h, 4000);
  await settle();
  h.publish();

  // Live exactly stableAfterMs: back to 1 s.
  await h.clock.advance(10_000);
  h.source.context.fail(new SourceError('dropped again'));
  await settle();
  assert.equal(retryDelayMs(h.supervisor), 1000);
});

test('a start that throws a SourceError restarts with its reason; any other error is wrapped', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t);
  h.source.plans = [
    { kind: 'fail', error: new SourceError('No such file or directory') },
    { kind: 'fail', error: new Error('boom') },
  ];
  h.supervisor.start();
  await settle();
  assert.deepEqual(h.supervisor.status(), { state: 'retrying', reason: 'No such file or directory', retryInSeconds: 1, restarts: 1, lastFrameAgeMs: null });
  await h.clock.advance(1000);
  assert.equal(h.supervisor.status().reason, 'source failed to start: boom');
  assert.equal(h.supervisor.status().restarts, 2);
  assert.deepEqual(h.states, ['starting', 'retrying', 'starting', 'retrying']);
});

test('context.fail(error) while live restarts with the error\'s reason', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t);
  h.supervisor.start();
  await settle();
  h.publish();
  h.source.context.fail(new SourceError('ffmpeg exited with code 1'));
  await settle();
  const status = h.supervisor.status();
  assert.equal(status.state, 'retrying');
  assert.equal(status.reason, 'ffmpeg exited with code 1');
  assert.equal(status.restarts, 1);
  assert.equal(h.source.stops, 1);
  await expectStartAfter(h, 1000);
  assert.deepEqual(h.states, ['starting', 'live', 'retrying', 'starting']);
});

test('stall: each frame re-arms the watchdog; stallTimeoutMs without one is "stalled", then a retry', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t, { stallTimeoutMs: 5000 });
  h.supervisor.start();
  await settle();
  h.publish();
  // A frame just before each deadline keeps it live: the timer was moved, not left at its first deadline.
  for (let i = 0; i < 3; i++) {
    await h.clock.advance(4999);
    assert.equal(h.supervisor.currentState, 'live');
    h.publish();
  }
  await h.clock.advance(4999);
  assert.equal(h.supervisor.currentState, 'live');
  await h.clock.advance(1);
  assert.equal(h.supervisor.currentState, 'retrying');
  assert.deepEqual(h.states, ['starting', 'live', 'stalled', 'retrying']);
  assert.equal(h.supervisor.status().reason, 'no frame for 5 s (stall-timeout)');
  assert.equal(h.source.stops, 1);
  assert.equal(h.delivered.length, 4);
  await expectStartAfter(h, 1000);
});

test('stall while starting: a start that never yields a frame is restarted too', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t, { stallTimeoutMs: 3000 });
  h.supervisor.start();
  await settle();
  assert.equal(h.supervisor.currentState, 'starting');
  await h.clock.advance(2999);
  assert.equal(h.supervisor.currentState, 'starting');
  await h.clock.advance(1);
  assert.deepEqual(h.states, ['starting', 'stalled', 'retrying']);
  assert.equal(h.supervisor.status().reason, 'no frame for 3 s (stall-timeout)');
});

test('a start that finishes after a stall restart is stopped again before the retry starts the source', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t, { stallTimeoutMs: 3000 });
  h.source.plans = [{ kind: 'hold' }];
  h.supervisor.start();
  await settle();
  await h.clock.advance(3000);
  assert.equal(h.supervisor.currentState, 'retrying');
  assert.equal(h.source.stops, 1, 'the stall stopped the source');

  h.source.finishStart();
  await settle();
  assert.equal(h.source.stops, 2, 'the late start was stopped: it must not keep running beside the retry');
  await h.clock.advance(1000);
  assert.equal(h.source.starts, 2, 'the retry started the source');
  assert.equal(h.source.stops, 2, 'and nothing stopped the retry');
  h.publish();
  assert.equal(h.supervisor.currentState, 'live');
});

test('frames and failures of a restarted generation are released, not delivered', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t);
  h.supervisor.start();
  await settle();
  const first = h.source.context;
  const delivered = h.publish(first);
  h.source.context.fail(new SourceError('dropped'));
  await settle();
  await h.clock.advance(1000);
  const second = h.source.context;
  assert.notEqual(first, second);

  const inUse = h.pool.stats().inUse;
  const stale = h.publish(first);
  assert.equal(stale.refCount, 0, 'the stale frame was released');
  assert.equal(h.pool.stats().inUse, inUse);
  first.fail(new SourceError('late failure of the old process'));
  await settle();
  assert.equal(h.supervisor.status().restarts, 1, 'the old generation cannot restart the new one');
  assert.equal(h.supervisor.currentState, 'starting');

  const fresh = h.publish(second);
  assert.deepEqual(h.delivered, [delivered.sequence, fresh.sequence]);
  assert.equal(h.supervisor.currentState, 'live');
});

for (const state of ['idle', 'stopped'] as const) {
  test(`stop('${state}') while starting: the start that resolves later is stopped again`, async (t) => {
    const h = harness(t);
    h.source.plans = [{ kind: 'hold' }];
    h.supervisor.start();
    await settle();
    assert.equal(h.supervisor.currentState, 'starting');
    const stopped = h.supervisor.stop(state);
    assert.equal(h.supervisor.currentState, state);
    assert.equal(h.supervisor.running, false);
    await stopped;
    assert.equal(h.source.stops, 1);

    h.source.finishStart();
    await settle();
    assert.equal(h.source.stops, 2, 'the late start was stopped');
    assert.equal(h.supervisor.currentState, state);
    // A frame the late start managed to publish is released.
    const frame = h.publish();
    assert.equal(frame.refCount, 0);
    assert.deepEqual(h.delivered, []);
    assert.deepEqual(h.states, ['starting', state]);
  });
}

test('stop while retrying cancels the retry', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t);
  h.source.plans = [{ kind: 'fail', error: new SourceError('refused') }];
  h.supervisor.start();
  await settle();
  await h.supervisor.stop();
  await h.clock.advance(60_000);
  assert.equal(h.source.starts, 1);
  assert.deepEqual(h.states, ['starting', 'retrying', 'stopped']);
  assert.equal(h.supervisor.status().retryInSeconds, null);
});

test('status(): retryInSeconds counts down while retrying; reason is null and lastFrameAgeMs counts while live', async (t) => {
  t.mock.method(Math, 'random', () => 0.5);
  const h = harness(t, { initialRetryMs: 2000 });
  h.source.plans = [{ kind: 'fail', error: new SourceError('refused') }];
  assert.deepEqual(h.supervisor.status(), { state: 'idle', reason: null, retryInSeconds: null, restarts: 0, lastFrameAgeMs: null });
  h.supervisor.start();
  await settle();
  assert.equal(h.supervisor.status().retryInSeconds, 2);
  await h.clock.advance(1400);
  assert.equal(h.supervisor.status().retryInSeconds, 0.6);
  assert.equal(h.supervisor.status(h.clock.nowMs + 5000).retryInSeconds, 0, 'never negative');
  await h.clock.advance(600);
  await settle();
  assert.equal(h.supervisor.status().retryInSeconds, null, 'not retrying: starting');
  assert.equal(h.supervisor.status().reason, 'refused', 'starting still says why it is not live');
  h.publish();
  await h.clock.advance(250);
  assert.deepEqual(h.supervisor.status(), { state: 'live', reason: null, retryInSeconds: null, restarts: 1, lastFrameAgeMs: 250 });
  assert.equal(h.supervisor.sinceLastFrameMs(), 250);
  await h.supervisor.stop();
  assert.equal(h.supervisor.status().state, 'stopped');
});

test('start() while running does nothing', async (t) => {
  const h = harness(t);
  h.supervisor.start();
  await settle();
  h.supervisor.start();
  await settle();
  assert.equal(h.source.starts, 1);
  await h.supervisor.stop();
});
