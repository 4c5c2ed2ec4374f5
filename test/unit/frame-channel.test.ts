import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from '../../src/frame/frame.js';
import { CameraCounters } from '../../src/stream/camera-counters.js';
import { FrameChannel } from '../../src/stream/frame-channel.js';
import { Viewer } from '../../src/stream/viewer.js';
import { FakeSink, Frames } from './fakes.js';

/** A viewer that only records what it is offered (and retains nothing), so the channel's own references show alone. */
class RecordingViewer extends Viewer {
  readonly offered: Frame[] = [];

  constructor() {
    super(new FakeSink(), { remote: 'test' }, { counters: new CameraCounters(), queueCapacity: 1, onClose: () => {} });
  }

  override offer(frame: Frame): void {
    this.offered.push(frame);
  }
}

test('fanOut offers each frame to every viewer and makes it the latest', () => {
  const frames = new Frames();
  const channel = new FrameChannel();
  const viewers = [new RecordingViewer(), new RecordingViewer(), new RecordingViewer()];
  for (const viewer of viewers) channel.add(viewer);
  const [a, b] = [frames.make(), frames.make()];
  channel.fanOut(a);
  assert.equal(channel.latest, a);
  channel.fanOut(b);
  assert.equal(channel.latest, b);
  for (const viewer of viewers) assert.deepEqual(viewer.offered, [a, b]);
  channel.clear();
});

test('a viewer added gets the latest frame at once; before the first frame, nothing', () => {
  const frames = new Frames();
  const channel = new FrameChannel();
  const early = new RecordingViewer();
  channel.add(early);
  assert.deepEqual(early.offered, []);
  const a = frames.make();
  channel.fanOut(a);
  const late = new RecordingViewer();
  channel.add(late);
  assert.deepEqual(late.offered, [a]);
  assert.deepEqual(channel.viewers, [early, late]);
  channel.clear();
});

test('fanOut takes over the caller reference and releases the previous latest', () => {
  const frames = new Frames();
  const start = frames.inUse;
  const channel = new FrameChannel();
  channel.add(new RecordingViewer());
  const a = frames.make();
  channel.fanOut(a);
  assert.equal(a.refCount, 1, 'no extra reference for being latest');
  const b = frames.make();
  channel.fanOut(b);
  assert.equal(a.refCount, 0, 'the previous latest went back to the pool');
  assert.equal(b.refCount, 1);
  assert.equal(frames.inUse, start + 1);
  channel.clear();
});

test('clear() releases the latest once; clearing again or fanning out afterwards releases nothing twice', () => {
  const frames = new Frames();
  const start = frames.inUse;
  const channel = new FrameChannel();
  channel.fanOut(frames.make());
  channel.clear();
  assert.equal(channel.latest, undefined);
  assert.equal(frames.inUse, start);
  channel.clear(); // would throw BufferOwnershipError on a second release
  const late = new RecordingViewer();
  channel.add(late);
  assert.deepEqual(late.offered, [], 'a cleared channel has no latest to offer');
  channel.fanOut(frames.make());
  channel.clear();
  assert.equal(frames.inUse, start);
});

test('remove() stops the fan-out to that viewer only, and says whether it was there', () => {
  const frames = new Frames();
  const channel = new FrameChannel();
  const [stays, leaves] = [new RecordingViewer(), new RecordingViewer()];
  channel.add(stays);
  channel.add(leaves);
  const a = frames.make();
  channel.fanOut(a);
  assert.equal(channel.remove(leaves), true);
  assert.equal(channel.remove(leaves), false);
  assert.deepEqual(channel.viewers, [stays]);
  const b = frames.make();
  channel.fanOut(b);
  assert.deepEqual(stays.offered, [a, b]);
  assert.deepEqual(leaves.offered, [a]);
  channel.clear();
});
