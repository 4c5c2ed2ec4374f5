import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CamstreamError, createCamstream } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, startServer } from './helpers/server.js';

function fakeJpeg(fill: number, length: number): Buffer {
  const bytes = Buffer.alloc(length, fill);
  bytes.writeUInt16BE(0xffd8, 0);
  bytes.writeUInt16BE(0xffd9, length - 2);
  return bytes;
}

test('a custom source\'s JPEGs reach viewers byte for byte, with their sequence numbers', async () => {
  const source = new PushSource();
  const { server, url } = await startServer({ source });
  try {
    const viewer = connectMjpeg(url);
    await viewer.head;
    // The viewer is attached once the head arrived; frames pushed now reach it.
    const sent = [fakeJpeg(1, 5000), fakeJpeg(2, 70_000), fakeJpeg(3, 300_000)];
    // Each pushed once the previous one arrived, so none replaces another still on its way.
    for (const [i, jpeg] of sent.entries()) {
      source.push(jpeg);
      await viewer.waitForParts(i + 1);
    }
    const parts = viewer.parts;
    assert.deepEqual(parts.map((part) => part.jpeg), sent);
    assert.deepEqual(parts.map((part) => part.headers['x-frame-sequence']), ['1', '2', '3']);
    const snapshot = Buffer.from(await (await fetch(`${url}/snapshot`)).arrayBuffer());
    assert.ok(snapshot.equals(sent[2] as Buffer));
    viewer.close();
  } finally {
    await server.stop();
  }
  // The snapshot response releases its frame when its socket is done, a moment later.
  await eventually(() => server.pool.stats().inUse === 0, () => `pool inUse ${server.pool.stats().inUse} after stop`);
});

test('a library user\'s encoding budget that cannot work is refused at creation, naming the camera and what it accepts', () => {
  for (const encodeBudgetMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => createCamstream({ cameras: [{ id: 'lab', source: 'synthetic:64x64@5', encodeBudgetMs }] }),
      (error: unknown) => error instanceof CamstreamError && error.code === 'CAMSTREAM_CONFIG' && /camera 'lab': encodeBudgetMs must be CPU milliseconds per second above 0/.test(error.message),
      `encodeBudgetMs ${encodeBudgetMs}`,
    );
  }
});
