import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory, type Frame } from '../../src/frame/frame.js';
import { RingRenderError, SourceError } from '../../src/source/errors.js';
import { renderRingInChild } from '../../src/source/render-ring.js';
import { RingCache, type RenderRing, type SharedRing } from '../../src/source/shared-ring.js';
import { SyntheticSource } from '../../src/source/synthetic.js';
import type { SourceContext } from '../../src/source/source.js';
import type { RenderOptions } from '../../src/source/synthetic-frames.js';

const OPTIONS: RenderOptions = { width: 64, height: 48, quality: 80, count: 3 };

/** A JPEG-like byte string that differs per frame and per render, so copies can be checked. */
function fakeJpeg(render: number, index: number): Buffer {
  return Buffer.from(`\xff\xd8render ${render} frame ${index}\xff\xd9`, 'latin1');
}

interface RenderCall {
  options: RenderOptions;
  store: (length: number) => Buffer;
  succeed(): void;
  fail(error: Error): void;
}

/** A render function the test finishes by hand, counting how many renders started. */
class ManualRender {
  readonly calls: RenderCall[] = [];
  readonly render: RenderRing = (options, store) =>
    new Promise<Buffer[]>((resolve, reject) => {
      const number = this.calls.length;
      this.calls.push({
        options,
        store,
        succeed: () => resolve(Array.from({ length: options.count }, (_, index) => this.write(store, fakeJpeg(number, index)))),
        fail: reject,
      });
    });

  private write(store: (length: number) => Buffer, jpeg: Buffer): Buffer {
    const target = store(jpeg.length);
    jpeg.copy(target);
    return target;
  }
}

/** A caller's ring slots: the buffers its `store` handed out, each its own memory. */
class Slots {
  readonly buffers: Buffer[] = [];
  readonly store = (length: number): Buffer => {
    const buffer = Buffer.alloc(length);
    this.buffers.push(buffer);
    return buffer;
  };
}

const sameMemory = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;

describe('RingCache', () => {
  test('concurrent requests for one size start one render; the first caller holds the bytes, the others a copy each', async () => {
    const render = new ManualRender();
    const cache = new RingCache(render.render);
    const slots = Array.from({ length: 12 }, () => new Slots());
    const rings = slots.map((s) => cache.acquire(OPTIONS, s.store));
    assert.equal(render.calls.length, 1, 'twelve concurrent starts, one render');
    render.calls[0]?.succeed();
    const resolved = await Promise.all(rings);
    assert.ok(resolved.every((ring) => ring === resolved[0]), 'everyone gets the same ring');
    const ring = resolved[0] as SharedRing;
    assert.equal(ring.jpegs.length, OPTIONS.count);
    ring.jpegs.forEach((jpeg, index) => {
      // The render wrote into the first caller's slots: the shared ring is those bytes, not a second copy.
      assert.ok(sameMemory(jpeg, slots[0]?.buffers[index] as Buffer), `frame ${index} is the first caller's memory`);
      for (const other of slots.slice(1)) {
        const copy = other.buffers[index] as Buffer;
        assert.ok(copy.equals(jpeg), `frame ${index} copied`);
        assert.ok(!sameMemory(copy, jpeg), `frame ${index} is a copy in the caller's own memory`);
      }
    });
    assert.ok(slots.every((s) => s.buffers.length === OPTIONS.count), 'every caller stored each frame once');
  });

  test('distinct sizes, qualities and ring lengths render separately', async () => {
    const render = new ManualRender();
    const cache = new RingCache(render.render);
    const variants: RenderOptions[] = [OPTIONS, { ...OPTIONS, width: 66 }, { ...OPTIONS, height: 50 }, { ...OPTIONS, quality: 60 }, { ...OPTIONS, count: 4 }];
    const rings = variants.map((options) => cache.acquire(options, new Slots().store));
    assert.equal(render.calls.length, variants.length);
    assert.deepEqual(
      render.calls.map((call) => call.options),
      variants,
    );
    for (const call of render.calls) call.succeed();
    const resolved = await Promise.all(rings);
    assert.equal(new Set(resolved).size, variants.length);
    assert.deepEqual(
      resolved.map((ring) => ring.jpegs.length),
      variants.map((options) => options.count),
    );
  });

  test('a rendered ring still held is reused without a render, copied into the new caller\'s slots', async () => {
    const render = new ManualRender();
    const cache = new RingCache(render.render);
    const first = cache.acquire(OPTIONS, new Slots().store);
    render.calls[0]?.succeed();
    const ring = await first;
    const later = new Slots();
    assert.equal(await cache.acquire(OPTIONS, later.store), ring);
    assert.equal(render.calls.length, 1, 'no second render');
    assert.deepEqual(later.buffers, ring.jpegs.map((jpeg) => Buffer.from(jpeg)));
  });

  test('a failed render rejects every waiter with the same error, and the next request renders again', async () => {
    const render = new ManualRender();
    const cache = new RingCache(render.render);
    const waiters = Array.from({ length: 3 }, () => cache.acquire(OPTIONS, new Slots().store));
    const cause = new Error('rendering the synthetic frames failed (exit 1): out of memory');
    render.calls[0]?.fail(cause);
    const errors = await Promise.all(waiters.map((waiter) => waiter.then(() => assert.fail('resolved'), (error: unknown) => error)));
    const error = errors[0];
    assert.ok(error instanceof RingRenderError);
    assert.ok(error instanceof SourceError, 'the camera reports it as a source failure');
    assert.equal(error.cause, cause);
    assert.match(error.reason, /64x48, quality 80, 3 frames.*out of memory/);
    assert.ok(errors.every((each) => each === error), 'every waiter gets the same error');

    const retry = new Slots();
    const ring = cache.acquire(OPTIONS, retry.store);
    assert.equal(render.calls.length, 2, 'the failure was not cached');
    render.calls[1]?.succeed();
    assert.equal((await ring).jpegs.length, OPTIONS.count);
    assert.ok(retry.buffers[0]?.equals(fakeJpeg(1, 0)));
  });

  test('a render function that throws at once rejects, and does not stay registered', async () => {
    let renders = 0;
    const cache = new RingCache(() => {
      renders++;
      throw new Error('spawn failed');
    });
    await assert.rejects(cache.acquire(OPTIONS, new Slots().store), RingRenderError);
    await assert.rejects(cache.acquire(OPTIONS, new Slots().store), RingRenderError);
    assert.equal(renders, 2);
  });

  test('a ring nobody holds any more is collected, and the next request renders again', async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc !== 'function') return t.skip('this V8 would not expose gc');
    const render = new ManualRender();
    const cache = new RingCache(render.render);
    // Acquired and dropped inside a function, so no variable here keeps it.
    await (async (): Promise<void> => {
      const first = cache.acquire(OPTIONS, new Slots().store);
      render.calls[0]?.succeed();
      assert.equal((await first).jpegs.length, OPTIONS.count);
    })();
    render.calls.length = 0; // the fake's record holds the first caller's slots, as that caller would
    // A WeakRef's target survives the job that created or dereferenced it: let it end, then collect.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    void cache.acquire(OPTIONS, new Slots().store);
    assert.equal(render.calls.length, 1, 'rendered again: the cache did not keep the ring alive');
  });
});

/** A camera for a source under test: it keeps the first frame published (until the test releases it) and releases the rest. */
class FirstFrameCamera {
  readonly context: SourceContext;
  readonly first: Promise<Frame>;
  private kept: Frame | undefined;

  constructor() {
    let resolve: (frame: Frame) => void = () => undefined;
    this.first = new Promise((r) => (resolve = r));
    this.context = {
      frames: new FrameFactory(new BufferPool()),
      publish: (frame) => {
        if (this.kept !== undefined) return frame.release();
        this.kept = frame;
        resolve(frame);
      },
      fail: (error) => assert.fail(`the source failed: ${error.reason}`),
      log: pino({ level: 'silent' }),
    };
  }

  release(): void {
    this.kept?.release();
  }
}

describe('SyntheticSource with the real render child', () => {
  const options = { width: 48, height: 32, fps: 20, ringSize: 3 };

  test('two cameras of one size start one child; each publishes the same JPEGs from memory of its own', async () => {
    let children = 0;
    const cache = new RingCache((renderOptions, store) => {
      children++;
      return renderRingInChild(renderOptions, store);
    });
    const sources = [new SyntheticSource(options, cache), new SyntheticSource(options, cache)];
    const cameras = [new FirstFrameCamera(), new FirstFrameCamera(), new FirstFrameCamera()];
    try {
      await Promise.all(sources.map((source, index) => source.start((cameras[index] as FirstFrameCamera).context)));
      assert.equal(children, 1, 'one render child for two cameras');
      const [a, b] = await Promise.all([cameras[0]?.first, cameras[1]?.first]);
      assert.ok(a !== undefined && b !== undefined);
      assert.equal(a.jpeg[0], 0xff);
      assert.equal(a.jpeg[1], 0xd8);
      assert.ok(a.jpeg.equals(b.jpeg), 'the same JPEG');
      assert.notEqual(a.jpeg.buffer, b.jpeg.buffer, 'in slots of each camera: a header written in one never shows in the other');
      assert.match(a.part.toString('latin1', 0, 200), /Content-Type: image\/jpeg\r\n/);

      // A third camera of that size, started while the others hold the ring: no child at all.
      const third = new SyntheticSource(options, cache);
      sources.push(third);
      await third.start((cameras[2] as FirstFrameCamera).context);
      assert.equal(children, 1, 'reused without a child');
      assert.ok((await cameras[2]?.first)?.jpeg.equals(a.jpeg));
    } finally {
      await Promise.all(sources.map((source) => source.stop()));
      for (const camera of cameras) camera.release();
    }
  });

  test('a render the child cannot do rejects with a RingRenderError naming the size', async () => {
    const cache = new RingCache();
    const source = new SyntheticSource({ ...options, width: 0, ringSize: 2 }, cache);
    await assert.rejects(source.start(new FirstFrameCamera().context), (error: unknown) => {
      assert.ok(error instanceof RingRenderError);
      assert.match(error.reason, /^rendering the synthetic frames \(0x32, quality 85, 2 frames\) failed: the render child exited with code 1: Error: Expected valid width/);
      return true;
    });
  });
});
