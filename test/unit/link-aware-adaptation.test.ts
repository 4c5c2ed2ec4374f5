import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveController, type AdaptiveOptions, type RungCost } from '../../src/stream/adaptive-controller.js';
import type { LinkSample } from '../../src/stream/kernel-queue.js';
import { LinkMonitor, UNREAD_NOISE_BYTES } from '../../src/stream/link-monitor.js';
import { SOURCE_PROFILE, type AdaptationLevel } from '../../src/stream/profile.js';

// LinkMonitor and the controller's linked path, fed hand-made TCP readings and times: no sockets, no clock.

const FRAME = 100_000;
const WINDOW = 4_000_000;
/** The window a reader holding `unread` bytes advertises: below the widest by that and the noise a socket ignores. */
const holding = (unread: number): number => (unread > 0 ? WINDOW - UNREAD_NOISE_BYTES - unread : WINDOW);

/** A socket whose TCP_INFO the test writes: `state` is what the next read returns. */
function fakeSocket(): { state: LinkSample; readable: boolean; read: (out: LinkSample) => boolean } {
  const fake = {
    // mss 0: every byte of the window counts (a real socket ignores 4 segments of it).
    state: { bytesAcked: 0, bytesTaken: 0, receiveWindow: WINDOW, minRttUs: 0, mss: 0, bytesRetransmitted: 0 },
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
  socket.state = { ...socket.state, bytesTaken: 5 * FRAME, bytesAcked: 5 * FRAME, receiveWindow: holding(5 * FRAME) };
  monitor.update(520, 5 * FRAME);
  assert.equal(monitor.pendingBytes, 5 * FRAME, 'what the window lost is unread');
  assert.equal(monitor.backlogMs, 420, 'frame 1, captured at 100, unread at 520');
  assert.equal(monitor.caughtUp, false);
  // Its application reads two and a half frames: frame 3 is the oldest not finished.
  socket.state.receiveWindow = holding(2.5 * FRAME);
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
  socket.state = { ...socket.state, bytesTaken: 2 * FRAME, bytesAcked: 1.5 * FRAME };
  monitor.update(300, 2 * FRAME);
  assert.equal(monitor.pendingBytes, 0.5 * FRAME);
  assert.equal(monitor.backlogMs, 290, 'frame 2 (captured at 10) is half delivered');
});

test('capacity: a reader that reads in bursts every 250 ms and keeps up has none; one 300 ms behind reads at its own rate over 0.5 s runs, unless a loss is in the run', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  monitor.update(-1000, 0);
  let written = 0;
  let readUpTo = 0;
  // A busy tab: 300 KB/s sent, everything read at each of its reads, four times a second.
  // Between reads it has not read what was written by the sample before, yet it is not behind.
  for (let t = 0; t <= 2000; t += 50) {
    written += 15_000;
    monitor.wrote(written, t);
    if (t % 250 === 0) readUpTo = written;
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(written - readUpTo) };
    monitor.update(t, written);
  }
  assert.equal(monitor.capacity, 0, 'what it read was what we sent');
  // Then 2 MB/s written and read with 700 KB (over 300 ms of frames) unread from 2.4 s on: behind
  // all along. Its first run (2.3-2.8 s) reads 1.8 MB/s (it began with less unread), the next 2 MB/s.
  for (let t = 2100; t <= 3300; t += 100) {
    written += 200_000;
    monitor.wrote(written, t);
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(Math.min(700_000, written - readUpTo)) };
    monitor.update(t, written);
  }
  assert.ok(Math.abs(monitor.capacity - 2_000_000) < 1, `capacity ${monitor.capacity}`);
  const measuredAt = monitor.capacityAtMs;
  // A retransmission restarts the run: no new figure for the next 0.3 s, though it reads faster now.
  socket.state.bytesRetransmitted = 1448;
  for (let t = 3400; t <= 3800; t += 100) {
    written += 300_000;
    monitor.wrote(written, t);
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(1_000_000) };
    monitor.update(t, written);
  }
  assert.equal(monitor.capacityAtMs, measuredAt, 'a run with a loss in it says nothing of the rate');
});

test('a reader that reads everything we send has no measured rate: what it read was ours, not its own', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  let written = 0;
  for (let t = 0; t <= 2000; t += 100) {
    written += 30_000;
    monitor.wrote(written, t);
    // In bursts: every other reading it has not read the last frame yet.
    const unread = t % 200 === 0 ? 0 : 30_000;
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(unread) };
    monitor.update(t + 5, written);
  }
  assert.equal(monitor.capacity, 0);
});

test('the round trip is not a backlog: a distant viewer that reads at once has none beyond it', () => {
  const socket = fakeSocket();
  socket.state.minRttUs = 80_000;
  const monitor = new LinkMonitor(socket.read);
  monitor.wrote(FRAME, 0);
  // 100 ms after capture the frame is in flight (not yet acknowledged): 80 ms of it is the path.
  socket.state = { ...socket.state, bytesTaken: FRAME, bytesAcked: 0 };
  monitor.update(100, FRAME);
  assert.equal(monitor.backlogMs, 20);
});

test('the standing backlog is the least over the last 0.3–0.6 s: a reader that reads in bursts and keeps up has none', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  monitor.update(0, 0);
  let written = 0;
  // A frame every 50 ms; the reader reads everything every 250 ms.
  for (let t = 50; t <= 2000; t += 50) {
    written += FRAME;
    monitor.wrote(written, t);
    const read = t % 250 === 0;
    const unread = read ? 0 : written - Math.floor(t / 250) * 5 * FRAME;
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(unread) };
    monitor.update(t + 1, written);
    if (t > 600) assert.equal(monitor.standingMs, 0, `t=${t}: backlog ${monitor.backlogMs}`);
  }
  // It stops keeping up: it reads one frame per 100 ms while two arrive, so its backlog grows by 50 ms every 100 ms.
  let unread = 0;
  for (let t = 2050; t <= 2950; t += 50) {
    written += FRAME;
    monitor.wrote(written, t);
    unread += t % 100 === 0 ? 0 : FRAME;
    socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(unread) };
    monitor.update(t + 1, written);
  }
  assert.ok(monitor.backlogMs > 400, `backlog ${monitor.backlogMs} ms`);
  assert.ok(monitor.standingMs > 100, `standing ${monitor.standingMs} ms once it never catches up`);
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
  c.link = { capacity: 2_000_000, capacityAtMs: 0, peakMs: 0 };
  // 15 fps of source frames need 3.75 MB/s; 15 fps of third-size ones 375 KB/s.
  assert.equal(c.observe(100, 3, 400), 'changed');
  assert.equal(c.currentLevel.profile, 'third-q60');
  assert.equal(c.level, 3);
  // A rung above the fresh measure is not probed, however long the viewer is healthy...
  for (let t = 1200; t < 4000; t += 100) assert.equal(c.observe(t, 3, 10), 'steady', `t=${t}`);
  // ...until the measure is stale (4 s): the link may have changed.
  let stepped = false;
  for (let t = 4000; t < 6000 && !stepped; t += 100) stepped = c.observe(t, 3, 10) === 'changed';
  assert.equal(stepped, true);
  assert.equal(c.level, 2);
});

test('without a rate (or without costs), trouble steps one rung, as before', () => {
  const noRate = new AdaptiveController(LADDER, OPTIONS, COST);
  noRate.observe(0, 3, 400);
  assert.equal(noRate.level, 1);
  const noCost = new AdaptiveController(LADDER, OPTIONS);
  noCost.link = { capacity: 2_000_000, capacityAtMs: 0, peakMs: 0 };
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

test('a window a few segments (or one large one) below its widest is noise, not unread bytes', () => {
  const socket = fakeSocket();
  socket.state.mss = 1448;
  const monitor = new LinkMonitor(socket.read);
  monitor.update(0, 0);
  monitor.wrote(4000, 10);
  // Everything acknowledged and read, yet the empty buffer advertises four segments less.
  socket.state = { ...socket.state, bytesTaken: 4000, bytesAcked: 4000, receiveWindow: WINDOW - 4 * 1448 };
  monitor.update(500, 4000);
  assert.equal(monitor.pendingBytes, 0);
  assert.equal(monitor.backlogMs, 0);
  // Beyond the noise (64 KiB here, more than 4 segments), the rest counts.
  socket.state.receiveWindow = WINDOW - UNREAD_NOISE_BYTES - 3000;
  monitor.update(600, 4000);
  assert.equal(monitor.pendingBytes, 3000);
  // Loopback's segments (64 KB) are larger than that: one segment is noise, and no more.
  socket.state.mss = 65_483;
  socket.state.receiveWindow = WINDOW - 65_483;
  monitor.update(700, 4000);
  assert.equal(monitor.pendingBytes, 0);
  socket.state.receiveWindow = WINDOW - UNREAD_NOISE_BYTES - 3000;
  monitor.update(800, 4000);
  assert.equal(monitor.pendingBytes, 3000, 'beyond one segment (64 KiB), the rest is unread (four would hide 256 KB)');
});

test('trouble on a rung that fits the fresh measured rate is a stall, not a reason to step down', () => {
  const c = new AdaptiveController(LADDER, OPTIONS, COST);
  c.link = { capacity: 2_000_000, capacityAtMs: 0, peakMs: 0 };
  c.observe(100, 3, 400);
  assert.equal(c.level, 3, 'third-size frames at 15 fps fit 2 MB/s');
  // A retransmission timeout: 300 ms of unread frames, on a rung that fits.
  assert.equal(c.observe(2000, 3, 300), 'steady');
  assert.equal(c.level, 3);
  // Once the measure is stale, trouble steps down again.
  assert.equal(c.observe(5000, 3, 300), 'changed');
  assert.equal(c.level, 4);
});

test('a step up is on trial: a backlog beyond the reader\'s own recent peak by more than lagLowMs fails it', () => {
  const link = { capacity: 0, capacityAtMs: -Infinity, peakMs: 250 };
  const c = new AdaptiveController(LADDER, OPTIONS, COST);
  c.link = link;
  assert.equal(c.probeCeilingMs(0), Infinity, 'no step up, no trial');
  c.observe(0, 3, 400);
  assert.equal(c.level, 1);
  // Healthy for a second (a busy tab: its backlog swings up to 250 ms and back to nothing).
  for (let t = 100; t < 1100; t += 100) assert.equal(c.observe(t, 3, 0), 'steady', `t=${t}`);
  assert.equal(c.observe(1100, 3, 0), 'changed');
  assert.equal(c.level, 0);
  // On trial for probeWindowMs: its peak (250 ms) and lagLowMs (80 ms) more.
  assert.equal(c.probeCeilingMs(1200), 330);
  assert.equal(c.probeCeilingMs(4100), 330);
  assert.equal(c.probeCeilingMs(4200), Infinity, 'the trial is over');
  // A backlog that deep (its Viewer drains it and passes it on) fails the trial at once.
  assert.equal(c.observe(1300, 3, 340), 'changed');
  assert.equal(c.level, 1);
  assert.equal(c.probeCeilingMs(1400), Infinity, 'back down: no trial');
});

test('the peak backlog is the most over the last 1–2 s', () => {
  const socket = fakeSocket();
  const monitor = new LinkMonitor(socket.read);
  monitor.update(-1000, 0);
  let written = 0;
  // A reader 250 ms behind at 0, then reading everything from 100 ms on.
  written += FRAME;
  monitor.wrote(written, -250);
  socket.state = { ...socket.state, bytesTaken: written, bytesAcked: written, receiveWindow: holding(FRAME) };
  monitor.update(0, written);
  assert.equal(monitor.peakMs, 250);
  socket.state.receiveWindow = holding(0);
  monitor.update(100, written);
  assert.equal(monitor.backlogMs, 0);
  assert.equal(monitor.peakMs, 250, 'its peak stands');
  monitor.update(1000, written);
  assert.equal(monitor.peakMs, 250, 'in the window before');
  monitor.update(2100, written);
  assert.equal(monitor.peakMs, 0, 'forgotten two windows on');
});
