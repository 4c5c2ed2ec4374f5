import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveController, type AdaptiveOptions, type RungCost } from '../../src/stream/adaptive-controller.js';
import type { LinkSample } from '../../src/stream/kernel-queue.js';
import { LinkMonitor } from '../../src/stream/link-monitor.js';
import { SOURCE_PROFILE, type AdaptationLevel } from '../../src/stream/profile.js';

// LinkMonitor and the controller's linked path, fed hand-made TCP readings and times: no sockets, no clock.

const FRAME = 100_000;
const WINDOW = 1_000_000;

/** A socket whose TCP_INFO the test writes: `state` is what the next read returns. */
function fakeSocket(): { state: LinkSample; readable: boolean; read: (out: LinkSample) => boolean } {
  const fake = {
    state: { bytesAcked: 0, bytesTaken: 0, notSent: 0, receiveWindow: WINDOW, minRttUs: 50 },
    readable: true,
    read: (out: LinkSample): boolean => {
      if (!fake.readable) return false;
      Object.assign(out, fake.state);
      return true;
    },
  };
  return fake;
}

test('a reader that keeps up: nothing pending, no backlog', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  for (let i = 1; i <= 5; i++) {
    monitor.wrote(i * FRAME, i * 16);
    socket.state.bytesTaken = socket.state.bytesAcked = i * FRAME;
    assert.equal(monitor.update(i * 16 + 2, i * FRAME), true);
    assert.equal(monitor.pendingBytes, 0);
    assert.equal(monitor.backlogMs, 0);
    assert.equal(monitor.caughtUp, true);
  }
});

test('a receive buffer filling while every write completes: the oldest unread frame\'s age is the backlog', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  monitor.update(0, 0); // the widest window seen: the empty buffer's
  // Five frames acknowledged by the peer's kernel (writes completed at once), none read by its application.
  for (let i = 1; i <= 5; i++) monitor.wrote(i * FRAME, i * 100);
  socket.state = { ...socket.state, bytesTaken: 5 * FRAME, bytesAcked: 5 * FRAME, receiveWindow: WINDOW - 5 * FRAME };
  monitor.update(520, 5 * FRAME);
  assert.equal(monitor.pendingBytes, 5 * FRAME, 'what the window lost is unread');
  assert.equal(monitor.backlogMs, 420, 'frame 1, captured at 100, unread at 520');
  assert.equal(monitor.caughtUp, false);
  // Its application reads two and a half frames: frame 3 is the oldest not finished.
  socket.state.receiveWindow = WINDOW - 2.5 * FRAME;
  monitor.update(600, 5 * FRAME);
  assert.equal(monitor.backlogMs, 300);
  // It reads everything.
  socket.state.receiveWindow = WINDOW;
  monitor.update(700, 5 * FRAME);
  assert.equal(monitor.backlogMs, 0);
  assert.equal(monitor.caughtUp, true);
});

test('bytes the kernel could not send count as pending, and their frames as unread', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  monitor.wrote(FRAME, 0);
  monitor.wrote(2 * FRAME, 10);
  socket.state = { ...socket.state, bytesTaken: 2 * FRAME, bytesAcked: 1.5 * FRAME, notSent: 0.3 * FRAME };
  monitor.update(300, 2 * FRAME);
  assert.equal(monitor.pendingBytes, 0.5 * FRAME);
  assert.equal(monitor.backlogMs, 290, 'frame 2 (captured at 10) is half delivered');
});

test('capacity is what was read while the kernel held unsent bytes throughout, over at least half a second', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  let written = 0;
  // 2 MB/s: 200 KB read per 100 ms; the server keeps 64 KB unsent all along.
  for (let t = 0; t <= 600; t += 100) {
    written += 200_000;
    monitor.wrote(written, t);
    socket.state = { ...socket.state, bytesTaken: written + 64_000, bytesAcked: written, notSent: 64_000 };
    monitor.update(t, written + 64_000 - 64_000);
  }
  assert.ok(Math.abs(monitor.capacity - 2_000_000) < 1, `capacity ${monitor.capacity}`);
  assert.equal(monitor.capacityAtMs, 500);
});

test('an unreadable socket: update says so and the figures stay', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  socket.readable = false;
  monitor.wrote(FRAME, 0);
  assert.equal(monitor.update(500, FRAME), false);
  assert.equal(monitor.backlogMs, 0);
});

const LADDER: readonly AdaptationLevel[] = [
  { maxFps: undefined, profile: SOURCE_PROFILE },
  { maxFps: 30, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: 'third-q60' },
  { maxFps: 5, profile: 'third-q60' },
];
const OPTIONS: Partial<AdaptiveOptions> = { lagHighMs: 250, lagLowMs: 80, stepDownCooldownMs: 1000, recoverAfterMs: 1000, probeWindowMs: 3000 };
/** 250 KB source frames at 60 fps; third-size frames of 25 KB. */
const COST: RungCost = (level) => (level.profile === SOURCE_PROFILE ? 250_000 : 25_000) * (level.maxFps ?? 60);

test('observe: a backlog of unread frames is trouble; a late frame with nothing unread is the server\'s, never a step down', () => {
  const c = new AdaptiveController(LADDER, OPTIONS);
  assert.equal(c.observe(0, 400, 5), 'server-late');
  assert.equal(c.observe(100, 400, 5), 'server-late');
  assert.equal(c.level, 0);
  assert.equal(c.dropped(200, false), false);
  assert.equal(c.dropped(300, false), false);
  assert.equal(c.level, 0, 'drops while the viewer has read everything do not count');
  assert.equal(c.observe(400, 3, 300), 'changed', 'a write completed at once, but 300 ms of frames are unread');
  assert.equal(c.level, 1);
});

test('observe: healthy means little lag and little unread; then one step up after recoverAfterMs', () => {
  const c = new AdaptiveController(LADDER, OPTIONS);
  c.observe(0, 3, 300);
  assert.equal(c.level, 1);
  for (let t = 1000; t < 2000; t += 100) assert.equal(c.observe(t, 3, 10), 'steady');
  assert.equal(c.observe(2000, 3, 10), 'changed');
  assert.equal(c.level, 0);
});

test('with a measured rate, trouble steps straight down to the best rung that fits it', () => {
  const c = new AdaptiveController(LADDER, OPTIONS, COST);
  c.link = { capacity: 2_000_000, capacityAtMs: 0 };
  // 15 fps of source frames need 3.75 MB/s; 15 fps of third-size ones 375 KB/s.
  assert.equal(c.observe(100, 3, 400), 'changed');
  assert.equal(c.currentLevel.profile, 'third-q60');
  assert.equal(c.level, 3);
  // A rung above the fresh measure is not probed, however long the viewer is healthy...
  for (let t = 1200; t < 9000; t += 100) assert.equal(c.observe(t, 3, 10), 'steady', `t=${t}`);
  // ...until the measure is stale (10 s): the link may have changed.
  let stepped = false;
  for (let t = 9000; t < 12_000 && !stepped; t += 100) stepped = c.observe(t, 3, 10) === 'changed';
  assert.equal(stepped, true);
  assert.equal(c.level, 2);
});

test('without a rate (or without costs), trouble steps one rung, as before', () => {
  const noRate = new AdaptiveController(LADDER, OPTIONS, COST);
  noRate.observe(0, 3, 400);
  assert.equal(noRate.level, 1);
  const noCost = new AdaptiveController(LADDER, OPTIONS);
  noCost.link = { capacity: 2_000_000, capacityAtMs: 0 };
  noCost.observe(0, 3, 400);
  assert.equal(noCost.level, 1);
});

test('when every viewer of the camera is late at once, nobody is stepped down: the server is the cause', () => {
  const c = new AdaptiveController(LADDER, OPTIONS);
  let everyone = true;
  c.everyoneLate = () => everyone;
  assert.equal(c.observe(0, 3, 400), 'steady');
  assert.equal(c.written(100, 400), false);
  assert.equal(c.dropped(200), false);
  assert.equal(c.dropped(300), false);
  assert.equal(c.level, 0);
  assert.ok(c.serverLate >= 2);
  // Only this viewer late: its own link.
  everyone = false;
  assert.equal(c.observe(400, 3, 400), 'changed');
  assert.equal(c.level, 1);
});
