import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { createCamstream, openKernelQueue, stripPrefix } from '../src/index.js';

/** A node:http server on 127.0.0.1 that hands every request to `handler`. */
async function host(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test('stripPrefix maps a mounted path to camstream\'s own, and leaves other paths alone', () => {
  const cases: [url: string, prefix: string, matched: boolean, after: string][] = [
    ['/cams/stream', '/cams', true, '/stream'],
    ['/cams/cam/door/snapshot?x=1', '/cams/', true, '/cam/door/snapshot?x=1'],
    ['/cams', '/cams', true, '/'],
    ['/cams?fps=5', '/cams', true, '/?fps=5'],
    ['/camsfoo/stream', '/cams', false, '/camsfoo/stream'],
    ['/other', '/cams', false, '/other'],
    ['/stream', '', true, '/stream'],
  ];
  for (const [url, prefix, matched, after] of cases) {
    const request = { url } as IncomingMessage;
    assert.equal(stripPrefix(request, prefix), matched, `${url} under '${prefix}'`);
    assert.equal(request.url, after, `${url} under '${prefix}'`);
  }
});

test('handler: 503 before start() and after stop(), camstream\'s routes in between; it never listens itself', async () => {
  const camstream = createCamstream({ source: 'synthetic:64x48@5', listen: false, logger: pino({ level: 'silent' }) });
  const { server, url } = await host(camstream.handler);
  try {
    const early = await fetch(`${url}/healthz`);
    assert.equal(early.status, 503);
    assert.equal(((await early.json()) as { error: string }).error, 'not_serving');
    assert.equal(await camstream.start(), '', 'a mounted camstream has no URL of its own');
    assert.equal(camstream.http.server.listening, false);
    const healthy = await fetch(`${url}/healthz`);
    assert.deepEqual(await healthy.json(), { status: 'ok' });
    await camstream.stop();
    assert.equal((await fetch(`${url}/healthz`)).status, 503);
  } finally {
    await camstream.stop();
    server.close();
  }
});

test('boundSendQueue applies camstream\'s send-queue bound to a host server\'s listening socket', async (t) => {
  const kernel = openKernelQueue();
  if (!kernel.available) return t.skip(`no kernel queue control here: ${kernel.reason}`);
  const camstream = createCamstream({ source: 'synthetic:64x48@5', listen: false, sendQueueBytes: 32 * 1024, logger: pino({ level: 'silent' }) });
  const { server } = await host(camstream.handler);
  try {
    assert.notEqual(kernel.notSentLowat(server), 32 * 1024, 'not bounded before');
    assert.equal(camstream.boundSendQueue(server), true);
    assert.equal(kernel.notSentLowat(server), 32 * 1024);
    const unbounded = createCamstream({ source: 'synthetic:64x48@5', listen: false, sendQueueBytes: 0, logger: pino({ level: 'silent' }) });
    assert.equal(unbounded.boundSendQueue(server), false, 'sendQueueBytes 0 leaves the kernel default');
    await unbounded.stop();
  } finally {
    await camstream.stop();
    server.close();
  }
});
