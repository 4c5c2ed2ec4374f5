import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import { BufferPool, Camera } from '../src/index.js';
import { MjpegSink } from '../src/stream/index.js';
import { PushSource } from './helpers/push-source.js';

/** A sink that accepts every write at once, like a socket with room in its buffer. */
function acceptingSink(): MjpegSink {
  return new MjpegSink(new Writable({ write: (_chunk, _encoding, callback) => callback() }));
}

/**
 * The regression guard for the hot path, independent of timing: once warm, 1000
 * frames to 10 in-process viewers allocate no pool buffer and trigger almost no
 * garbage collection. A per-viewer copy (a Buffer.concat of header, JPEG and
 * trailer: 2.5 GB over this run) or per-viewer closures would show up here.
 */
test('1000 frames to 10 viewers, once warm: no pool misses, every part delivered, GC bounded', async () => {
  const pool = new BufferPool();
  const source = new PushSource();
  const camera = new Camera({ id: 'guard', source, pool, log: pino({ level: 'silent' }), alwaysOn: true });
  camera.start();
  await nextTurn();
  const viewers = Array.from({ length: 10 }, () => camera.addViewer(acceptingSink(), { remote: 'test' }));
  const jpeg = Buffer.alloc(250_000, 7);
  const publish = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      source.push(jpeg);
      await nextTurn();
    }
  };

  await publish(100); // warm up: the pool fills its class, V8 optimises the path
  let gcs = 0;
  const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const before = { pool: pool.stats(), sent: camera.counters.framesSent };
  await publish(1000);
  await nextTurn();
  observer.disconnect();
  const after = pool.stats();

  assert.equal(after.misses - before.pool.misses, 0, 'pool misses once warm');
  assert.equal(camera.counters.framesSent - before.sent, 10 * 1000, 'every viewer got every frame');
  assert.equal(camera.counters.drops.total, 0);
  assert.ok(after.highWaterMark <= 3, `frames in use at once: ${after.highWaterMark}`);
  // Measured: 2 GCs here; 75 with a per-viewer Buffer.concat of the part.
  assert.ok(gcs <= 10, `${gcs} garbage collections for 1000 frames to 10 viewers`);
  for (const viewer of viewers) viewer.close('shutdown');
  await camera.stop();
  await nextTurn();
  assert.equal(pool.stats().inUse, 0);
});
