import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CameraCounters } from '../../src/stream/camera-counters.js';
import { Viewer, type ViewerCloseReason, type ViewerOptions } from '../../src/stream/viewer.js';
import type { LinkSample } from '../../src/stream/kernel-queue.js';
import { UNREAD_NOISE_BYTES } from '../../src/stream/link-monitor.js';
import { FakeSink, Frames, useFakeClock, type FakeClock } from './fakes.js';

interface Rig {
  clock: FakeClock;
  frames: Frames;
  sink: FakeSink;
  counters: CameraCounters;
  closes: ViewerCloseReason[];
  viewer: Viewer;
}

/** A viewer on a fake sink and a fake clock (its stall timer is a setTimeout). */
function rig(t: TestContext, options: Partial<ViewerOptions> = {}): Rig {
  const clock = useFakeClock(t);
  const frames = new Frames();
  const sink = new FakeSink();
  const counters = new CameraCounters();
  const closes: ViewerCloseReason[] = [];
  const viewer = new Viewer(sink, { remote: 'test' }, { counters, queueCapacity: 1, onClose: (_viewer, reason) => closes.push(reason), ...options });
  return { clock, frames, sink, counters, closes, viewer };
}

test('one write in flight at a time; the queued frame is sent from the completion callback', (t) => {
  const { clock, frames, sink, viewer } = rig(t);
  const a = frames.make(clock.now);
  const b = frames.make(clock.now);
  viewer.offer(a);
  viewer.offer(b);
  assert.deepEqual(sink.sequences, [a.sequence], 'b waits while a is being written');
  assert.equal(viewer.stats().queued, 1);
  assert.equal(viewer.stats().bytesInFlight, a.part.length);
  assert.equal(a.refCount, 2, 'the viewer holds a while writing it');
  sink.complete();
  assert.deepEqual(sink.sequences, [a.sequence, b.sequence]);
  assert.equal(a.refCount, 1, 'released once written');
  assert.equal(viewer.stats().queued, 0);
  sink.complete();
  assert.equal(sink.sends.length, 2, 'nothing left to send');
  assert.equal(viewer.framesSent, 2);
  assert.equal(viewer.bytesSent, a.part.length + b.part.length);
  assert.equal(viewer.stats().bytesInFlight, 0);
  assert.equal(b.refCount, 1);
});

test('a frame that displaces the waiting one counts a `replaced` drop and releases it', (t) => {
  const { clock, frames, sink, counters, viewer } = rig(t);
  const [a, b, c] = [frames.make(clock.now), frames.make(clock.now), frames.make(clock.now)];
  viewer.offer(a);
  viewer.offer(b);
  viewer.offer(c);
  assert.equal(viewer.drops.replaced, 1);
  assert.equal(counters.drops.replaced, 1);
  assert.equal(b.refCount, 1, 'the viewer let go of b');
  sink.complete();
  assert.deepEqual(sink.sequences, [a.sequence, c.sequence], 'latest wins');
  assert.equal(viewer.drops.total, 1);
});

/** Offers twelve frames 1/60 s apart, completing each write before the next frame. */
function offerAt60Fps(r: Rig): void {
  for (let i = 0; i < 12; i++) {
    const frame = r.frames.make((i * 1000) / 60);
    r.viewer.offer(frame);
    frame.release();
    if (r.sink.pending.length > 0) r.sink.complete();
  }
}

test('frames held back by the adaptive frame-rate cap count as `adapted` drops', (t) => {
  const r = rig(t);
  r.viewer.setAdaptiveFps(10);
  assert.equal(r.viewer.frameRateCap, 10);
  offerAt60Fps(r);
  assert.equal(r.sink.sends.length, 2, 'one frame in six at 10 of 60 fps');
  assert.equal(r.viewer.drops.adapted, 10);
  assert.equal(r.counters.drops.adapted, 10);
  assert.equal(r.viewer.drops.replaced, 0);
});

test('frames skipped for the frame rate the viewer asked for are not drops', (t) => {
  const r = rig(t, { requestedFps: 10 });
  offerAt60Fps(r);
  assert.equal(r.sink.sends.length, 2);
  assert.equal(r.viewer.drops.total, 0);
  assert.equal(r.counters.drops.total, 0);
});

test('a write that makes no progress for stallTimeoutMs ends the viewer as stalled', (t) => {
  const { clock, frames, sink, closes, viewer } = rig(t, { stallTimeoutMs: 1000 });
  const a = frames.make(clock.now);
  viewer.offer(a);
  clock.advance(999);
  assert.equal(sink.destroys, 0);
  clock.advance(1);
  assert.equal(sink.ends, 1);
  assert.equal(sink.destroys, 1, 'destroyed: a viewer that does not read would never let a graceful end finish');
  assert.deepEqual(closes, [], 'onClose waits for the socket to close');
  sink.emit('close');
  assert.deepEqual(closes, ['stalled']);
  assert.equal(viewer.isClosed, true);
  sink.complete(new Error('destroyed')); // Node fails the write that was in flight
  assert.equal(a.refCount, 1, 'the viewer released its reference');
});

test('the stall clock restarts with every write', (t) => {
  const { clock, frames, sink, viewer } = rig(t, { stallTimeoutMs: 1000 });
  viewer.offer(frames.make(clock.now));
  clock.advance(600);
  sink.complete();
  viewer.offer(frames.make(clock.now)); // second write starts at +600
  clock.advance(400); // the timer looks at +1000: 400 ms of quiet, waits 600 more
  assert.equal(sink.destroys, 0);
  clock.advance(599);
  assert.equal(sink.destroys, 0);
  clock.advance(1);
  assert.equal(sink.destroys, 1, 'stalled 1000 ms after the second write started');
});

test('a viewer with nothing in flight never stalls', (t) => {
  const { clock, frames, sink, viewer } = rig(t, { stallTimeoutMs: 1000 });
  viewer.offer(frames.make(clock.now));
  sink.complete();
  clock.advance(60_000);
  assert.equal(sink.destroys, 0);
  assert.equal(viewer.isClosed, false);
});

test('dual final frames: the frame a stream pauses on is sent once more, only once, only when idle', (t) => {
  const { clock, frames, sink, viewer } = rig(t, { dualFinalFrames: true });
  const a = frames.make(clock.now);
  viewer.offer(a);
  viewer.repeatFinal(a);
  assert.equal(sink.sends.length, 1, 'not while a write is in flight');
  sink.complete();
  viewer.repeatFinal(a);
  assert.deepEqual(sink.sequences, [a.sequence, a.sequence]);
  sink.complete();
  viewer.repeatFinal(a);
  assert.equal(sink.sends.length, 2, 'a frame is repeated once');
  assert.equal(viewer.framesSent, 1, 'the repeat is no new frame');
  assert.equal(viewer.bytesSent, 2 * a.part.length, 'but its bytes count');
  assert.equal(a.refCount, 1);

  const b = frames.make(clock.now);
  viewer.repeatFinal(b);
  assert.equal(sink.sends.length, 2, 'b was never sent: nothing to repeat');
  viewer.offer(b);
  sink.complete();
  viewer.repeatFinal(b);
  assert.deepEqual(sink.sequences.slice(2), [b.sequence, b.sequence], 'the next pause repeats again');
});

test('without dual final frames, repeatFinal sends nothing', (t) => {
  const { clock, frames, sink, viewer } = rig(t);
  const a = frames.make(clock.now);
  viewer.offer(a);
  sink.complete();
  viewer.repeatFinal(a);
  assert.equal(sink.sends.length, 1);
});

test('the socket closing ends the viewer as `client`, once; later offers are ignored', (t) => {
  const { clock, frames, sink, closes, viewer } = rig(t);
  sink.emit('close');
  sink.emit('close');
  assert.deepEqual(closes, ['client']);
  const frame = frames.make(clock.now);
  viewer.offer(frame);
  assert.equal(sink.sends.length, 0);
  assert.equal(frame.refCount, 1, 'a closed viewer takes no reference');
});

test('a socket error before the close makes the reason `error`', (t) => {
  const { sink, closes } = rig(t);
  sink.emit('error');
  sink.emit('close');
  assert.deepEqual(closes, ['error']);
});

test('close(shutdown) ends and destroys the socket; onClose says shutdown once it closes', (t) => {
  const { sink, closes, viewer } = rig(t);
  viewer.close('shutdown');
  assert.deepEqual([sink.ends, sink.destroys], [1, 1]);
  assert.deepEqual(closes, []);
  sink.emit('close');
  assert.deepEqual(closes, ['shutdown']);
});

test('close(client) only ends the socket, so buffered bytes still go out', (t) => {
  const { sink, closes, viewer } = rig(t);
  viewer.close('client');
  assert.deepEqual([sink.ends, sink.destroys], [1, 0]);
  sink.emit('close');
  assert.deepEqual(closes, ['client']);
});

test('a failed write sends nothing more: the waiting frame is released at once, later offers are not sent', (t) => {
  const { clock, frames, sink, closes, viewer } = rig(t);
  const [a, b, c] = [frames.make(clock.now), frames.make(clock.now), frames.make(clock.now)];
  viewer.offer(a);
  viewer.offer(b);
  sink.complete(new Error('EPIPE'));
  assert.equal(sink.sends.length, 1, 'no write after a failed one');
  assert.equal(a.refCount, 1);
  assert.equal(b.refCount, 1, 'the waiting frame is let go with the failure');
  assert.equal(viewer.framesSent, 0, 'a failed write is not a frame sent');
  // A frame published before the transport's close arrives must not go out after
  // the failed one (it once did, and the queued frame after it: out of order).
  viewer.offer(c);
  assert.deepEqual(sink.sequences, [a.sequence]);
  assert.equal(c.refCount, 1, 'not retained');
  sink.emit('error');
  sink.emit('close');
  assert.deepEqual(closes, ['error']);
});

/** A FakeSink whose socket state (TCP_INFO) the test sets. */
class LinkedSink extends FakeSink {
  // mss 0: the test's frames are a few hundred bytes, and every byte of the window counts.
  state: LinkSample = { bytesAcked: 0, bytesTaken: 0, receiveWindow: 1_000_000, minRttUs: 50, mss: 0, bytesRetransmitted: 0 };
  readLink(out: LinkSample): boolean {
    Object.assign(out, this.state);
    return true;
  }
}

test('a linked viewer whose reader holds unread frames sends nothing until it read them, dropping as `draining`', (t) => {
  const clock = useFakeClock(t);
  const frames = new Frames();
  const sink = new LinkedSink();
  const counters = new CameraCounters();
  const viewer = new Viewer(sink, { remote: 'test' }, { counters, queueCapacity: 1, onClose: () => {}, drainAboveMs: 250 });
  const first = frames.make(clock.now);
  viewer.offer(first);
  const bytes = first.part.length;
  // The write completes at once (the peer's kernel took it), but its reader does not read it.
  sink.state = { ...sink.state, bytesTaken: bytes, bytesAcked: bytes, receiveWindow: 1_000_000 - UNREAD_NOISE_BYTES - bytes };
  sink.complete();
  assert.equal(viewer.linked, true);
  assert.equal(viewer.stats().link?.draining, false, 'written just now: no backlog yet');
  // 300 ms later the next write completes, and the first frame is still unread.
  clock.advance(300);
  const next = frames.make(clock.now);
  viewer.offer(next);
  sink.state = { ...sink.state, bytesTaken: 2 * bytes, bytesAcked: 2 * bytes, receiveWindow: 1_000_000 - UNREAD_NOISE_BYTES - 2 * bytes };
  sink.complete();
  assert.deepEqual(viewer.stats().link, { backlogMs: 300, pendingBytes: 2 * bytes, capacity: 0, draining: true });
  const second = frames.make(clock.now);
  const third = frames.make(clock.now);
  viewer.offer(second);
  viewer.offer(third);
  assert.equal(sink.sends.length, 2, 'nothing more is sent while the reader is behind');
  assert.equal(viewer.drops.draining, 1, 'the second frame gave way to the third');
  assert.equal(counters.drops.draining, 1);
  assert.equal(second.refCount, 1, 'the dropped frame was released');
  // The reader reads everything: the next frame goes out, the one that waited is dropped (it is older).
  clock.advance(20);
  sink.state = { ...sink.state, receiveWindow: 1_000_000 };
  const fourth = frames.make(clock.now);
  viewer.offer(fourth);
  assert.deepEqual(sink.sequences, [first.sequence, next.sequence, fourth.sequence]);
  assert.equal(viewer.drops.draining, 2);
  assert.equal(third.refCount, 1);
  assert.equal(viewer.stats().link?.draining, false);
});

test('a drain the socket never ends is over after its time: a reader that reads nothing is then left to the stall timer', (t) => {
  const clock = useFakeClock(t);
  const frames = new Frames();
  const sink = new LinkedSink();
  const closes: ViewerCloseReason[] = [];
  const viewer = new Viewer(sink, { remote: 'test' }, { counters: new CameraCounters(), queueCapacity: 1, onClose: (_v, reason) => closes.push(reason), drainAboveMs: 250, stallTimeoutMs: 5000 });
  const first = frames.make(clock.now);
  const bytes = first.part.length;
  viewer.offer(first);
  sink.state = { ...sink.state, bytesTaken: bytes, bytesAcked: bytes, receiveWindow: 1_000_000 - UNREAD_NOISE_BYTES - bytes };
  sink.complete();
  clock.advance(300);
  viewer.offer(frames.make(clock.now));
  sink.state = { ...sink.state, bytesTaken: 2 * bytes, bytesAcked: 2 * bytes, receiveWindow: 1_000_000 - UNREAD_NOISE_BYTES - 2 * bytes };
  sink.complete();
  assert.equal(viewer.stats().link?.draining, true);
  // No measured rate: the drain lasts at most half of its one-second ceiling.
  clock.advance(400);
  viewer.offer(frames.make(clock.now));
  assert.equal(sink.sends.length, 2);
  clock.advance(200);
  viewer.offer(frames.make(clock.now));
  assert.equal(sink.sends.length, 3, 'the drain ended by time');
  // What the socket said is stale (nothing was sent for the reader to acknowledge): measured afresh.
  assert.equal(viewer.stats().link?.backlogMs, 0);
  sink.emit('close');
  assert.deepEqual(closes, ['client']);
});

test('a frame that gives way while the linked viewer\'s reader has everything is the server\'s lateness, not the viewer\'s', (t) => {
  const clock = useFakeClock(t);
  const frames = new Frames();
  const sink = new LinkedSink();
  const counters = new CameraCounters();
  const viewer = new Viewer(sink, { remote: 'test' }, { counters, queueCapacity: 1, onClose: () => {} });
  const first = frames.make(clock.now);
  viewer.offer(first);
  sink.state = { ...sink.state, bytesTaken: first.part.length, bytesAcked: first.part.length };
  sink.complete(); // read at once: linked, nothing unread
  viewer.offer(frames.make(clock.now)); // in flight
  viewer.offer(frames.make(clock.now)); // waits
  viewer.offer(frames.make(clock.now)); // replaces it
  assert.equal(viewer.drops.replaced, 1);
  assert.equal(counters.serverLate, 1);
});
