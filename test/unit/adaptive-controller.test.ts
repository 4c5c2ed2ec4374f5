import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AdaptiveController, type AdaptiveOptions } from '../../src/stream/adaptive-controller.js';
import { SOURCE_PROFILE, type AdaptationLevel } from '../../src/stream/profile.js';

// The controller is plain arithmetic on the `nowMs` it is given: no clock, no timers.

const LADDER: readonly AdaptationLevel[] = [
  { maxFps: undefined, profile: SOURCE_PROFILE },
  { maxFps: 30, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: 'half-q60' },
];

const OPTIONS: AdaptiveOptions = {
  lagHighMs: 250,
  lagLowMs: 80,
  dropsToStepDown: 2,
  stepDownCooldownMs: 1000,
  recoverAfterMs: 2000,
  probeWindowMs: 3000,
  maxRecoverAfterMs: 60_000,
};

const HIGH = 251; // just over lagHighMs
const LOW = 79; // just under lagLowMs
const MIDDLE = 150;

function controller(options: Partial<AdaptiveOptions> = {}): AdaptiveController {
  return new AdaptiveController(LADDER, { ...OPTIONS, ...options });
}

/** Healthy writes every 100 ms over [fromMs, toMs); asserts none of them changes the level. */
function healthy(c: AdaptiveController, fromMs: number, toMs: number): void {
  for (let t = fromMs; t < toMs; t += 100) assert.equal(c.written(t, LOW), false, `no change at ${t} ms`);
}

/**
 * Healthy writes from `startMs`: asserts the step up comes exactly `waitMs` later,
 * not one write earlier. Returns when it came.
 */
function expectStepUpAfter(c: AdaptiveController, startMs: number, waitMs: number): number {
  const level = c.level;
  healthy(c, startMs, startMs + waitMs);
  assert.equal(c.written(startMs + waitMs, LOW), true, `a step up ${waitMs} ms after ${startMs}`);
  assert.equal(c.level, level - 1);
  return startMs + waitMs;
}

test('an empty ladder is refused', () => {
  assert.throws(() => new AdaptiveController([]), RangeError);
});

test('lag above lagHighMs steps down; lag at lagHighMs does not', () => {
  const c = controller();
  assert.equal(c.written(1000, 250), false);
  assert.equal(c.level, 0);
  assert.equal(c.written(1000, HIGH), true);
  assert.equal(c.level, 1);
  assert.deepEqual(c.currentLevel, LADDER[1]);
  assert.equal(c.stepsDown, 1);
});

test('dropsToStepDown replaced frames step down; fewer do not', () => {
  const c = controller({ dropsToStepDown: 3 });
  assert.equal(c.dropped(1000), false);
  assert.equal(c.dropped(1010), false);
  assert.equal(c.level, 0);
  assert.equal(c.dropped(1020), true);
  assert.equal(c.level, 1);
  // The count starts again after a change (and after the cooldown, three more are needed).
  assert.equal(c.dropped(2100), false);
  assert.equal(c.dropped(2110), false);
  assert.equal(c.dropped(2120), true);
  assert.equal(c.level, 2);
});

test('at most one step down per stepDownCooldownMs', () => {
  const c = controller();
  assert.equal(c.written(1000, HIGH), true);
  assert.equal(c.written(1999, HIGH), false, 'still cooling down');
  assert.equal(c.dropped(1999), false);
  assert.equal(c.dropped(1999), false, 'drops during the cooldown wait too');
  assert.equal(c.level, 1);
  assert.equal(c.written(2000, HIGH), true);
  assert.equal(c.level, 2);
});

test('never below the last level', () => {
  const c = controller();
  for (let i = 0; i < LADDER.length + 3; i++) c.written(1000 + i * 1000, HIGH);
  assert.equal(c.level, LADDER.length - 1);
  assert.equal(c.written(100_000, HIGH), false);
  assert.equal(c.dropped(100_001), false);
  assert.equal(c.dropped(100_002), false);
  assert.equal(c.level, LADDER.length - 1);
  assert.equal(c.stepsDown, LADDER.length - 1);
});

test('recoverAfterMs of healthy writes steps up one level; level 0 stays', () => {
  const c = controller();
  c.written(1000, HIGH);
  c.written(2000, HIGH);
  assert.equal(c.level, 2);
  const up = expectStepUpAfter(c, 2100, 2000);
  assert.equal(c.stepsUp, 1);
  // The next step up needs another full healthy period.
  expectStepUpAfter(c, up, 2000);
  assert.equal(c.level, 0);
  healthy(c, 6200, 20_000);
  assert.equal(c.level, 0);
});

test('lag between lagLowMs and lagHighMs neither steps nor counts as healthy: it restarts the healthy period', () => {
  const c = controller();
  c.written(1000, HIGH);
  healthy(c, 1100, 2600);
  assert.equal(c.written(2600, MIDDLE), false);
  assert.equal(c.written(2650, 80), false, 'lagLowMs itself is not healthy');
  assert.equal(c.level, 1);
  // Healthy again from 2700: the 1.5 s before the middle lag no longer count.
  healthy(c, 2700, 4700);
  assert.equal(c.written(4700, LOW), true);
  assert.equal(c.level, 0);
});

test('a replaced frame also restarts the healthy period', () => {
  const c = controller();
  c.written(1000, HIGH);
  healthy(c, 1100, 2600);
  assert.equal(c.dropped(2650), false);
  healthy(c, 2700, 4700);
  assert.equal(c.written(4700, LOW), true);
});

test('a failed step up goes back at once (no cooldown) and doubles the wait for the next, up to maxRecoverAfterMs', () => {
  const c = controller({ recoverAfterMs: 2000, maxRecoverAfterMs: 5000, stepDownCooldownMs: 1000, probeWindowMs: 3000 });
  c.written(1000, HIGH);
  c.written(2000, HIGH);
  assert.equal(c.level, 2);
  let up = expectStepUpAfter(c, 2100, 2000); // level 1 at 4100
  // Trouble 10 ms later, inside the cooldown since that step: back down at once.
  assert.equal(c.written(up + 10, HIGH), true);
  assert.equal(c.level, 2);
  // Now 4 s of health are needed.
  up = expectStepUpAfter(c, up + 100, 4000);
  assert.equal(c.dropped(up + 5), false);
  assert.equal(c.dropped(up + 10), true, 'two drops fail a probe too');
  // 8 s, capped at 5 s.
  expectStepUpAfter(c, up + 100, 5000);
});

test('trouble exactly probeWindowMs after a step up still fails the probe', () => {
  const c = controller({ recoverAfterMs: 2000, probeWindowMs: 3000 });
  c.written(1000, HIGH);
  const up = expectStepUpAfter(c, 1100, 2000); // level 0 at 3100
  assert.equal(c.written(up + 3000, HIGH), true);
  expectStepUpAfter(c, up + 3100, 4000);
});

test('trouble after the probe window is an ordinary step down: the wait is not doubled', () => {
  const c = controller();
  c.written(1000, HIGH);
  const up = expectStepUpAfter(c, 1100, 2000); // level 0 at 3100
  // Middle lag (no healthy write, so the "held" reset has not run) until after the window.
  assert.equal(c.written(up + 3001, MIDDLE), false);
  assert.equal(c.written(up + 3001, HIGH), true);
  expectStepUpAfter(c, up + 3100, 2000);
});

test('a step up that holds past probeWindowMs resets the wait to recoverAfterMs', () => {
  const c = controller({ recoverAfterMs: 2000, probeWindowMs: 3000, stepDownCooldownMs: 1000 });
  c.written(1000, HIGH);
  c.written(2000, HIGH);
  let up = expectStepUpAfter(c, 2100, 2000); // level 1 at 4100
  c.written(up + 10, HIGH); // failed probe: the wait is now 4 s
  up = expectStepUpAfter(c, up + 100, 4000); // level 1 again at 8210
  // No trouble through the probe window, and a healthy write after it: it held.
  // (Middle lag until then, so the healthy write does not also step up.)
  for (let t = up + 100; t <= up + 3000; t += 100) assert.equal(c.written(t, MIDDLE), false);
  assert.equal(c.written(up + 3100, LOW), false);
  // An ordinary step down later, then 2 s (not 4 s) of health bring it back.
  assert.equal(c.written(up + 3200, HIGH), true);
  expectStepUpAfter(c, up + 3300, 2000);
});

test('property: the level stays within the ladder, changes by at most one per call, and the return value says whether it changed', () => {
  const event = fc.record({
    dtMs: fc.integer({ min: 0, max: 4000 }),
    kind: fc.constantFrom('written' as const, 'dropped' as const),
    lagMs: fc.integer({ min: 0, max: 600 }),
  });
  fc.assert(
    fc.property(fc.array(event, { maxLength: 300 }), fc.integer({ min: 1, max: 6 }), (events, rungs) => {
      const levels = Array.from({ length: rungs }, (_, i) => ({ maxFps: i === 0 ? undefined : 30 - i, profile: SOURCE_PROFILE }));
      const c = new AdaptiveController(levels, OPTIONS);
      let now = 1;
      for (const { dtMs, kind, lagMs } of events) {
        now += dtMs;
        const before = c.level;
        const changed = kind === 'written' ? c.written(now, lagMs) : c.dropped(now);
        const after = c.level;
        assert.ok(after >= 0 && after <= levels.length - 1, `level ${after} out of [0, ${levels.length - 1}]`);
        assert.ok(Math.abs(after - before) <= 1, `jumped ${before} → ${after}`);
        assert.equal(changed, after !== before);
        assert.equal(c.stepsDown - c.stepsUp, after);
        // Down only on trouble, up only on a healthy write.
        if (after > before) assert.ok(kind === 'dropped' || lagMs > OPTIONS.lagHighMs);
        if (after < before) assert.ok(kind === 'written' && lagMs < OPTIONS.lagLowMs);
      }
    }),
    { numRuns: 300 },
  );
});
