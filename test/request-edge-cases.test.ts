import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { Camstream } from '../src/index.js';
import { HANG_MS, startServer, WaitTimeoutError } from './helpers/server.js';

// Requests the fuzz test (test/fuzz.test.ts) once found mishandled, pinned here so a
// regression fails every run, not only the runs whose random requests hit it.

let server: Camstream;
let url: string;
before(async () => {
  ({ server, url } = await startServer({ source: 'synthetic:160x120@10' }));
});
after(() => server.stop());

/**
 * The whole answer to one raw request (or pipelined requests, the last with
 * Connection: close): what arrives until the server closes the connection. Only a
 * hang reaches the ceiling.
 */
async function exchange(request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(request);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new WaitTimeoutError(`the server closes after answering ${JSON.stringify(request)}; got ${JSON.stringify(text)}`, HANG_MS)), HANG_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    socket.destroy();
  }
  return text;
}

test('HEAD /api/events answers at once with the event-stream headers and no body', async () => {
  // A request pipelined behind it is the witness that the HEAD's answer ended: its
  // answer follows on the connection, which an event stream would never let happen.
  const answer = await exchange('HEAD /api/events HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /content-type: text\/event-stream/i);
  const headEnd = answer.indexOf('\r\n\r\n') + 4;
  assert.equal(answer.indexOf('HTTP/1.1 ', 1), headEnd, `nothing after the head but the next answer: ${JSON.stringify(answer)}`);
  assert.ok(answer.endsWith('{"status":"ok"}'), 'the next answer is /healthz\'s');
});

test('HEAD of a stream with a bad query gets the 400 a GET would get', async () => {
  for (const path of ['/stream?fps=', '/cam/default/stream?fps=abc', '/?action=stream&fps=-1']) {
    assert.match(await exchange(`HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 400/, path);
  }
  assert.match(await exchange('HEAD /stream?fps=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200/);
});

test('a request target that is not a path is a 400, not a route (`*stream` is not /stream)', async () => {
  for (const target of ['*', '*stream', '*?action=snapshot', 'http://example.com/stream', '/stream#x?fps=']) {
    const answer = await exchange(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 400/, target);
    assert.match(answer, /bad_request_target/, target);
  }
  assert.match(await exchange('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 204/);
});
