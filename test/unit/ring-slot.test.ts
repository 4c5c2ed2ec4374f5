import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory, type Frame } from '../../src/frame/frame.js';
import { RingSlot } from '../../src/source/ring-slot.js';

/** Distinct bytes, so a copy that got the offsets wrong cannot look equal. */
function sampleJpeg(length: number): Buffer {
  const jpeg = Buffer.alloc(length);
  for (let i = 0; i < length; i++) jpeg[i] = (i * 31 + 7) & 0xff;
  jpeg[0] = 0xff;
  jpeg[1] = 0xd8;
  jpeg[length - 2] = 0xff;
  jpeg[length - 1] = 0xd9;
  return jpeg;
}

/** Whether `view` lies inside the memory of `outer`. */
function sharesMemory(view: Buffer, outer: Buffer): boolean {
  return view.buffer === outer.buffer && view.byteOffset >= outer.byteOffset && view.byteOffset + view.length <= outer.byteOffset + outer.length;
}

function setup(): { pool: BufferPool; frames: FrameFactory; slot: RingSlot; jpeg: Buffer } {
  const pool = new BufferPool();
  const frames = new FrameFactory(pool);
  const jpeg = sampleJpeg(3000);
  const slot = new RingSlot(frames, jpeg.length);
  jpeg.copy(slot.jpeg);
  return { pool, frames, slot, jpeg };
}

test('a new slot is free and takes nothing from the pool', () => {
  const { pool, slot, jpeg } = setup();
  assert.equal(slot.refCount, 0);
  assert.equal(slot.jpegLength, jpeg.length);
  assert.equal(pool.stats().inUse, 0);
  assert.equal(pool.stats().bytesPooled, 0, 'the slot memory is not pooled');
});

test('a free slot publishes itself: no pooled buffer, the frame\'s JPEG is the slot\'s memory', () => {
  const { pool, frames, slot, jpeg } = setup();
  const frame = slot.publishable(frames);
  assert.equal(pool.stats().inUse, 0);
  assert.equal(pool.stats().misses + pool.stats().hits, 0, 'nothing was acquired');
  assert.ok(sharesMemory(frame.jpeg, slot.bytes));
  assert.equal(frame.jpeg.byteOffset, slot.jpeg.byteOffset);
  assert.ok(frame.jpeg.equals(jpeg));
  assert.equal(slot.refCount, 1, 'the publisher holds the slot');
  assert.equal(frame.refCount, 1);
  // The part is framed around the slot's JPEG in place.
  assert.ok(sharesMemory(frame.part, slot.bytes));
  assert.match(frame.part.toString('latin1', 0, 120), new RegExp(`Content-Length: ${jpeg.length}\r\n`));
  frame.release();
  assert.equal(slot.refCount, 0);
});

test('a slot still held is published as a pooled copy with the same JPEG bytes', () => {
  const { pool, frames, slot, jpeg } = setup();
  const first = slot.publishable(frames);
  const viewer = first.retain(); // a viewer still writing last lap's frame
  first.release(); // the camera's exchange moved on
  assert.equal(slot.refCount, 1);

  const copy = slot.publishable(frames);
  assert.equal(pool.stats().inUse, 1, 'a pooled buffer holds the copy');
  assert.ok(!sharesMemory(copy.jpeg, slot.bytes));
  assert.ok(copy.jpeg.equals(jpeg));
  assert.ok(copy.sequence > first.sequence);
  assert.equal(slot.refCount, 1, 'the copy does not hold the slot');
  // Writing the copy's header did not touch the frame the viewer is still sending.
  assert.match(viewer.part.toString('latin1'), new RegExp(`X-Frame-Sequence: ${first.sequence}\r\n`));

  copy.release();
  assert.equal(pool.stats().inUse, 0, 'the copy went back to the pool');
  viewer.release();
  assert.equal(slot.refCount, 0);
});

test('the slot is free again only once every holder released; then it publishes itself again', () => {
  const { pool, frames, slot } = setup();
  const first = slot.publishable(frames);
  const holders: Frame[] = [first.retain(), first.retain()];
  first.release();
  for (const holder of holders) {
    const lap = slot.publishable(frames);
    assert.ok(!sharesMemory(lap.jpeg, slot.bytes), `a copy while ${slot.refCount} holder(s) remain`);
    lap.release();
    holder.release();
  }
  assert.equal(slot.refCount, 0);
  const again = slot.publishable(frames);
  assert.ok(sharesMemory(again.jpeg, slot.bytes));
  assert.match(again.part.toString('latin1'), new RegExp(`X-Frame-Sequence: ${again.sequence}\r\n`), 'a fresh header for this lap');
  again.release();
  assert.equal(pool.stats().inUse, 0);
  assert.equal(slot.refCount, 0);
});

test('with a shared pool the slot lives in shared memory (viewer loops read it without a copy)', () => {
  const frames = new FrameFactory(new BufferPool({ shared: true }));
  const slot = new RingSlot(frames, 100);
  assert.ok(slot.bytes.buffer instanceof SharedArrayBuffer);
});
