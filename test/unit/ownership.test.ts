import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { SourceContext } from '../../src/source/source.js';
import { Camera } from '../../src/stream/camera.js';
import { CameraCounters } from '../../src/stream/camera-counters.js';
import { FrameChannel } from '../../src/stream/frame-channel.js';
import { Viewer } from '../../src/stream/viewer.js';
import { PushSource } from '../helpers/push-source.js';
import { FakeSink, Frames, useFakeClock } from './fakes.js';

/**
 * Each path a pooled frame can take from the camera's exchange through a viewer
 * (docs/ARCHITECTURE.md, "Who owns a buffer, when") gives every reference back:
 * the pool's inUse returns to where it started.
 */

interface Watcher {
  sink: FakeSink;
  viewer: Viewer;
}

/** A channel whose viewers write to fake sinks and leave it when their socket closes, as a camera's do. */
function channelWithViewers(t: TestContext, count: number): { frames: Frames; channel: FrameChannel; watchers: Watcher[] } {
  useFakeClock(t); // the viewers' stall timers never fire on their own
  const frames = new Frames();
  const channel = new FrameChannel();
  const counters = new CameraCounters();
  const watchers: Watcher[] = [];
  for (let i = 0; i < count; i++) {
    const sink = new FakeSink();
    const viewer = new Viewer(sink, { remote: `viewer ${i}` }, { counters, queueCapacity: 1, onClose: (left) => channel.remove(left) });
    channel.add(viewer);
    watchers.push({ sink, viewer });
  }
  return { frames, channel, watchers };
}

/** Three frames: each viewer ends with one write in flight and one frame waiting (the second was replaced). */
function publishThree(frames: Frames, channel: FrameChannel): void {
  for (let i = 0; i < 3; i++) channel.fanOut(frames.make());
}

/** What Node does when a socket goes away under a write: 'close', then the write's callback with an error. */
function disconnect(sink: FakeSink): void {
  sink.emit('close');
  while (sink.pending.length > 0) sink.complete(new Error('write after the socket was destroyed'));
}

test('writes that complete: only the latest frame stays, and clear() returns it', (t) => {
  const { frames, channel, watchers } = channelWithViewers(t, 2);
  const start = frames.inUse;
  publishThree(frames, channel);
  for (const { sink } of watchers) while (sink.pending.length > 0) sink.complete();
  assert.equal(frames.inUse, start + 1, 'the latest frame only');
  for (const { sink } of watchers) assert.equal(sink.sends.length, 2, 'the first frame, then the newest');
  channel.clear();
  assert.equal(frames.inUse, start);
});

test('a write that fails: its frame and the waiting one are released by the time the socket has closed', (t) => {
  const { frames, channel, watchers } = channelWithViewers(t, 2);
  const start = frames.inUse;
  publishThree(frames, channel);
  const [failing, healthy] = watchers as [Watcher, Watcher];
  failing.sink.complete(new Error('EPIPE'));
  failing.sink.emit('error');
  failing.sink.emit('close');
  while (healthy.sink.pending.length > 0) healthy.sink.complete();
  assert.equal(frames.inUse, start + 1);
  assert.deepEqual(channel.viewers, [healthy.viewer]);
  channel.clear();
  assert.equal(frames.inUse, start);
});

test('a viewer that leaves mid-write: the waiting frame goes at the close, the one in flight when its callback fails', (t) => {
  const { frames, channel, watchers } = channelWithViewers(t, 1);
  const start = frames.inUse;
  publishThree(frames, channel);
  const [{ sink }] = watchers as [Watcher];
  assert.equal(frames.inUse, start + 2, 'the frame in flight and the latest (which also waits in the queue)');
  sink.emit('close');
  assert.equal(frames.inUse, start + 2, 'the write in flight still reads its frame');
  sink.complete(new Error('write after the socket was destroyed'));
  assert.equal(frames.inUse, start + 1, 'the latest only');
  channel.clear();
  assert.equal(frames.inUse, start);
});

test('the camera stops (viewers shut down, channel cleared): everything goes back', (t) => {
  const { frames, channel, watchers } = channelWithViewers(t, 3);
  const start = frames.inUse;
  publishThree(frames, channel);
  watchers[2]?.sink.complete(); // one viewer idle, the others mid-write
  for (const { viewer } of watchers) viewer.close('shutdown');
  for (const { sink } of watchers) {
    assert.equal(sink.destroys, 1);
    disconnect(sink);
  }
  channel.clear();
  assert.equal(channel.viewers.length, 0);
  assert.equal(frames.inUse, start);
});

/** A PushSource that tells the test when the camera has started it. */
class StartedSource extends PushSource {
  private markStarted: () => void = () => {};
  readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  override async start(context: SourceContext): Promise<void> {
    await super.start(context);
    this.markStarted();
  }
}

test('a Camera stopped with viewers mid-write releases every pooled frame', async (t) => {
  useFakeClock(t); // the supervisor's stall watchdog and the viewers' stall timers stay put
  const frames = new Frames();
  const start = frames.inUse;
  const source = new StartedSource();
  const camera = new Camera({ id: 'test', source, pool: frames.pool, log: pino({ level: 'silent' }), adaptive: false });
  const sinks = [new FakeSink(), new FakeSink()];
  for (const [i, sink] of sinks.entries()) camera.addViewer(sink, { remote: `viewer ${i}` });
  await source.started; // an on-demand camera starts its source with the first viewer
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
  for (let i = 0; i < 3; i++) source.push(jpeg);
  sinks[1]?.complete();
  assert.deepEqual(sinks.map((sink) => sink.sends.length), [1, 2], 'frames reached the viewers');
  assert.equal(frames.inUse, start + 2, 'one frame in flight, the latest (in flight or waiting too)');
  await camera.stop();
  for (const sink of sinks) {
    assert.equal(sink.destroys, 1, 'stop() shuts every viewer down');
    disconnect(sink);
  }
  assert.equal(camera.viewerCount, 0);
  assert.equal(frames.inUse, start);
});
