import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BufferOwnershipError, BufferPool, CLASS_SIZES, classIndexFor, MAX_CLASS_SIZE, type PooledBuffer } from '../src/frame/index.js';

test('size classes cover 4 KiB to 16 MiB with at most 25 % waste', () => {
  assert.equal(CLASS_SIZES[0], 4096);
  assert.equal(CLASS_SIZES[CLASS_SIZES.length - 1], MAX_CLASS_SIZE);
  for (let i = 1; i < CLASS_SIZES.length; i++) {
    const previous = CLASS_SIZES[i - 1] as number;
    assert.ok((CLASS_SIZES[i] as number) <= previous * 1.25, `class ${i} grows by more than 25 %`);
  }
  assert.ok(classIndexFor(8 * 1024 * 1024) >= 0, 'an 8 MB frame has a class');
  assert.equal(classIndexFor(MAX_CLASS_SIZE + 1), -1);
});

test('reserve pre-allocates, so the first acquisitions are hits', () => {
  const pool = new BufferPool();
  pool.reserve(250_000, 4);
  const taken = [1, 2, 3, 4].map(() => pool.acquire(250_000));
  assert.deepEqual({ hits: pool.stats().hits, misses: pool.stats().misses, inUse: pool.stats().inUse }, { hits: 4, misses: 0, inUse: 4 });
  for (const buffer of taken) buffer.release();
  assert.equal(pool.stats().inUse, 0);
  assert.equal(pool.stats().idle, 4);
});

test('a size over the largest class gets a one-off buffer, counted as a miss and never pooled', () => {
  const pool = new BufferPool();
  const big = pool.acquire(MAX_CLASS_SIZE + 10);
  assert.equal(big.bytes.length, MAX_CLASS_SIZE + 10);
  assert.equal(big.classIndex, -1);
  big.release();
  const stats = pool.stats();
  assert.deepEqual({ misses: stats.misses, oversize: stats.oversize, inUse: stats.inUse, idle: stats.idle }, { misses: 1, oversize: 1, inUse: 0, idle: 0 });
});

test('idle buffers above the per-class cap are trimmed', () => {
  const pool = new BufferPool({ maxIdlePerClass: 2 });
  const taken = [1, 2, 3, 4].map(() => pool.acquire(10_000));
  for (const buffer of taken) buffer.release();
  assert.equal(pool.stats().idle, 2);
  assert.equal(pool.stats().trimmed, 2);
});

test('releasing twice is an ownership error', () => {
  const pool = new BufferPool();
  const buffer = pool.acquire(1000);
  buffer.release();
  assert.throws(() => buffer.release(), BufferOwnershipError);
  assert.throws(() => buffer.retain(), BufferOwnershipError);
});

type Step = { op: 'acquire'; size: number } | { op: 'retain'; pick: number } | { op: 'release'; pick: number };

const sizes = fc.oneof(fc.integer({ min: 0, max: 64 * 1024 }), fc.integer({ min: 100_000, max: 600_000 }), fc.constantFrom(250_000, 251_000, MAX_CLASS_SIZE + 1));
const steps = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('acquire' as const), size: sizes }),
    fc.record({ op: fc.constant('retain' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
  ),
  { maxLength: 200 },
);

test('property: random acquire/retain/release sequences keep ownership and counters exact', () => {
  fc.assert(
    fc.property(steps, fc.integer({ min: 0, max: 4 }), (sequence: Step[], maxIdlePerClass) => {
      const pool = new BufferPool({ maxIdlePerClass, maxIdleBytes: 8 * 1024 * 1024 });
      // Each held buffer and how many references the test holds on it.
      const held = new Map<PooledBuffer, number>();
      let acquisitions = 0;
      let highWater = 0;
      for (const step of sequence) {
        const entries = [...held.keys()];
        if (step.op === 'acquire') {
          const buffer = pool.acquire(step.size);
          acquisitions++;
          assert.ok(!held.has(buffer), 'a buffer was handed out twice while held');
          for (const other of held.keys()) assert.notEqual(other.bytes.buffer, buffer.bytes.buffer, 'two held buffers share memory');
          assert.ok(buffer.bytes.length >= step.size, 'buffer smaller than asked');
          held.set(buffer, 1);
          highWater = Math.max(highWater, held.size);
        } else if (entries.length > 0) {
          const buffer = entries[step.pick % entries.length] as PooledBuffer;
          const refs = held.get(buffer) as number;
          if (step.op === 'retain') {
            buffer.retain();
            held.set(buffer, refs + 1);
          } else {
            buffer.release();
            if (refs === 1) held.delete(buffer);
            else held.set(buffer, refs - 1);
          }
        }
        const stats = pool.stats();
        assert.equal(stats.inUse, held.size, 'inUse counts the buffers held');
        assert.equal(stats.hits + stats.misses, acquisitions, 'every acquisition is a hit or a miss');
        assert.equal(stats.highWaterMark, highWater);
        for (const [buffer, refs] of held) assert.equal(buffer.refCount, refs);
      }
      // Release everything: every buffer returns, and the idle figures add up.
      for (const [buffer, refs] of held) for (let i = 0; i < refs; i++) buffer.release();
      const stats = pool.stats();
      assert.equal(stats.inUse, 0);
      assert.equal(stats.bytesPooled, stats.bytesIdle, 'with nothing in use every pooled byte is idle');
      assert.ok(stats.bytesIdle <= 8 * 1024 * 1024);
    }),
    { numRuns: 300 },
  );
});
