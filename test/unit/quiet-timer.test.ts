import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { QuietTimer } from '../../src/stream/quiet-timer.js';
import { useFakeClock, type FakeClock } from './fakes.js';

/** A watch whose answers the test sets, counting expiries. */
function watched(t: TestContext, limitMs = 500): { clock: FakeClock; timer: QuietTimer; state: { since: number; active: boolean; expired: number } } {
  const clock = useFakeClock(t);
  const state = { since: clock.now, active: true, expired: 0 };
  const timer = new QuietTimer({
    limitMs: () => limitMs,
    sinceMs: () => state.since,
    active: () => state.active,
    expired: () => state.expired++,
  });
  return { clock, timer, state };
}

test('fires expired once the quiet has lasted the limit, and only once', (t) => {
  const { clock, timer, state } = watched(t);
  timer.arm();
  clock.advance(499);
  assert.equal(state.expired, 0);
  clock.advance(1);
  assert.equal(state.expired, 1);
  clock.advance(5000);
  assert.equal(state.expired, 1, 'not re-armed after expiring');
});

test('an event during the wait re-arms it for only what is left of the limit', (t) => {
  const { clock, timer, state } = watched(t);
  timer.arm();
  clock.advance(300);
  state.since = clock.now; // an event at +300: the quiet restarts
  clock.advance(200); // the timer fires at +500: quiet 200 ms, 300 ms to go
  assert.equal(state.expired, 0);
  clock.advance(299);
  assert.equal(state.expired, 0);
  clock.advance(1);
  assert.equal(state.expired, 1, 'expired 500 ms after the event, not 500 ms after the re-check');
});

test('arm() while armed keeps the one timer (and its deadline)', (t) => {
  const { clock, timer, state } = watched(t);
  timer.arm();
  clock.advance(100);
  timer.arm();
  timer.arm(10);
  clock.advance(399);
  assert.equal(state.expired, 0, 'the later arm(10) did not start a second timer');
  clock.advance(1);
  assert.equal(state.expired, 1);
  clock.advance(5000);
  assert.equal(state.expired, 1, 'a second timer would have expired again');
});

test('arm(delay) waits that long before its first look', (t) => {
  const { clock, timer, state } = watched(t);
  state.since = clock.now - 450; // quiet already for 450 ms
  timer.arm(50);
  clock.advance(49);
  assert.equal(state.expired, 0);
  clock.advance(1);
  assert.equal(state.expired, 1);
});

test('cancel() stops it; it can be armed again afterwards', (t) => {
  const { clock, timer, state } = watched(t);
  timer.arm();
  clock.advance(200);
  timer.cancel();
  clock.advance(5000);
  assert.equal(state.expired, 0);
  state.since = clock.now;
  timer.arm();
  clock.advance(500);
  assert.equal(state.expired, 1);
});

test('inactive when it fires: it goes idle without expiring or re-arming, until armed again', (t) => {
  const { clock, timer, state } = watched(t);
  timer.arm();
  state.active = false;
  clock.advance(500);
  assert.equal(state.expired, 0);
  state.active = true;
  clock.advance(5000);
  assert.equal(state.expired, 0, 'idle: nothing was re-armed');
  state.since = clock.now;
  timer.arm();
  clock.advance(500);
  assert.equal(state.expired, 1, 'an idle timer arms again');
});
