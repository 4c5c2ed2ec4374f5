import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Frame } from '../../src/frame/frame.js';
import { FrameQueue } from '../../src/stream/frame-queue.js';
import { Frames } from './fakes.js';

const frames = new Frames();

test('capacity must be a whole power of two >= 1', () => {
  for (const bad of [0, -1, 3, 6, 12, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new FrameQueue(bad), RangeError, `capacity ${bad}`);
  }
  for (const good of [1, 2, 4, 1024]) assert.equal(new FrameQueue(good).capacity, good);
});

test('frames come out in the order they went in; length follows', () => {
  const queue = new FrameQueue(4);
  const [a, b, c] = [frames.make(), frames.make(), frames.make()];
  assert.equal(queue.push(a), undefined);
  assert.equal(queue.push(b), undefined);
  assert.equal(queue.push(c), undefined);
  assert.equal(queue.length, 3);
  assert.equal(queue.shift(), a);
  assert.equal(queue.shift(), b);
  assert.equal(queue.length, 1);
  assert.equal(queue.shift(), c);
  assert.equal(queue.length, 0);
});

test('shift on an empty queue gives undefined and leaves it usable', () => {
  const queue = new FrameQueue(2);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.length, 0);
  const a = frames.make();
  queue.push(a);
  assert.equal(queue.shift(), a);
  assert.equal(queue.shift(), undefined);
});

test('latest wins: a push into a full queue hands back the oldest frame and keeps the new one', () => {
  const queue = new FrameQueue(1);
  const [a, b, c] = [frames.make(), frames.make(), frames.make()];
  assert.equal(queue.push(a), undefined);
  assert.equal(queue.push(b), a);
  assert.equal(queue.push(c), b);
  assert.equal(queue.length, 1);
  assert.equal(queue.shift(), c);

  const two = new FrameQueue(2);
  two.push(a);
  two.push(b);
  assert.equal(two.push(c), a, 'the oldest gives way, not the newest waiting one');
  assert.deepEqual([two.shift(), two.shift()], [b, c]);
});

type Op = { kind: 'push' } | { kind: 'shift' };

test('property: any mix of pushes and shifts behaves like a bounded array that drops its oldest', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(fc.constant<Op>({ kind: 'push' }), fc.constant<Op>({ kind: 'shift' }));
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 4, 8), fc.array(op, { maxLength: 60 }), (capacity, ops) => {
      const queue = new FrameQueue(capacity);
      const model: Frame[] = [];
      const made: Frame[] = [];
      for (const step of ops) {
        if (step.kind === 'push') {
          const frame = frames.make();
          made.push(frame);
          const expected = model.length === capacity ? model.shift() : undefined;
          model.push(frame);
          assert.equal(queue.push(frame), expected);
        } else {
          assert.equal(queue.shift(), model.shift());
        }
        assert.equal(queue.length, model.length);
      }
      // What is left comes out in the model's order.
      for (const frame of model) assert.equal(queue.shift(), frame);
      assert.equal(queue.shift(), undefined);
      for (const frame of made) frame.release();
    }),
  );
});
