import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { hashPassword, type Camstream } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

const TOKEN = 'test-token-0123456789abcdef';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The status line and headers of a raw request's answer (whatever the endpoint, streams included). */
async function rawHead(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(request);
  let text = '';
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString('latin1');
    if (text.includes('\r\n\r\n')) break;
  }
  socket.destroy();
  return text.slice(0, text.indexOf('\r\n\r\n'));
}

describe('authentication', () => {
  let server: Camstream;
  let url: string;
  before(async () => {
    const users = { alice: await hashPassword('correct horse') };
    ({ server, url } = await startServer({ source: 'synthetic:160x120@10', auth: { users, tokens: [TOKEN] } }));
  });
  after(() => server.stop());

  test('every endpoint but /healthz answers 401 with WWW-Authenticate and a JSON reason, never a frame', async () => {
    for (const path of ['/', '/stream', '/snapshot', '/cam/default/stream', '/api/stats', '/api/events', '/metrics', '/ws', '/state', '/?action=snapshot']) {
      const response = await fetch(`${url}${path}`);
      assert.equal(response.status, 401, path);
      assert.match(response.headers.get('www-authenticate') ?? '', /Basic realm="camstream".*Bearer realm="camstream"/, path);
      assert.match(((await response.json()) as { message: string }).message, /credentials required/);
    }
    assert.equal((await fetch(`${url}/healthz`)).status, 200, '/healthz stays open for probes');
    // The dashboard's code (no camera data) loads without credentials: a module's imports drop the page's ?access_token=.
    assert.equal((await fetch(`${url}/dashboard/live-frames.js`)).status, 200);
    assert.match(await rawHead(url, 'GET /dashboard/../api/stats HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 401/, 'only the files themselves are public');
  });

  test('a user\'s password, a bearer token or ?access_token= lets the request through; wrong ones do not', async () => {
    const ok = async (headers: Record<string, string>, path = '/api/stats'): Promise<number> => (await fetch(`${url}${path}`, { headers })).status;
    assert.equal(await ok({ authorization: basic('alice', 'correct horse') }), 200);
    assert.equal(await ok({ authorization: basic('alice', 'correct horse') }), 200, 'again (remembered)');
    assert.equal(await ok({ authorization: `Bearer ${TOKEN}` }), 200);
    assert.equal(await ok({}, `/snapshot?access_token=${TOKEN}`), 200, 'for <img src> and players that cannot set headers');
    assert.equal(await ok({ authorization: basic('alice', 'wrong') }), 401);
    assert.equal(await ok({ authorization: basic('mallory', 'correct horse') }), 401, 'unknown user');
    assert.equal(await ok({ authorization: `Bearer ${TOKEN}x` }), 401);
    assert.equal(await ok({ authorization: 'Digest username="alice"' }), 401, 'unsupported scheme');
    const refused = await fetch(`${url}/api/stats`, { headers: { authorization: basic('alice', 'wrong') } });
    assert.match(((await refused.json()) as { message: string }).message, /not accepted/);
  });

  test('the MJPEG stream and the WebSocket need credentials too, and work with them', async () => {
    assert.match(await rawHead(url, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 401/);
    const viewer = connectMjpeg(url, '/stream', `GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('alice', 'correct horse')}\r\n\r\n`);
    try {
      await viewer.waitForParts(3);
    } finally {
      viewer.close();
    }
    const wsUrl = url.replace('http', 'ws');
    const refused = new WebSocket(`${wsUrl}/ws`);
    const status = await new Promise<number>((resolve, reject) => {
      refused.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      refused.once('open', () => reject(new Error('the WebSocket opened without credentials')));
    });
    assert.equal(status, 401);
    const allowed = new WebSocket(`${wsUrl}/ws?cameras=default`, { headers: { authorization: `Bearer ${TOKEN}` } });
    try {
      const [data] = (await new Promise((resolve, reject) => {
        allowed.on('message', (message, isBinary) => isBinary && resolve([message as Buffer]));
        allowed.once('error', reject);
      })) as [Buffer];
      assert.ok(data.length > 100, 'a frame message');
    } finally {
      allowed.terminate();
    }
  });
});

describe('listening beyond this machine', () => {
  const startLogged = async (options: Parameters<typeof startServer>[0]): Promise<string> => {
    let log = '';
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _encoding, callback) => ((log += chunk.toString()), callback()) }));
    const { server } = await startServer({ source: 'synthetic:160x120@5', host: '0.0.0.0', logger, ...options });
    await server.stop();
    return log;
  };

  test('warns at start when bound to all addresses without authentication, not with it', async () => {
    assert.match(await startLogged({}), /listening on 0\.0\.0\.0 without authentication: anyone who can reach this address can watch/);
    assert.doesNotMatch(await startLogged({ auth: { tokens: [TOKEN] } }), /without authentication/);
  });
});

describe('CORS', () => {
  let server: Camstream;
  let url: string;
  before(async () => {
    ({ server, url } = await startServer({ source: 'synthetic:160x120@10', cors: { origins: ['https://dash.example'] } }));
  });
  after(() => server.stop());

  test('only listed origins may read answers, streams and preflights included', async () => {
    const allowed = await fetch(`${url}/api/stats`, { headers: { origin: 'https://dash.example' } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://dash.example');
    assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
    const other = await fetch(`${url}/api/stats`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${url}/snapshot`, { method: 'OPTIONS', headers: { origin: 'https://dash.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/);
    const stream = await rawHead(url, 'GET /stream HTTP/1.1\r\nHost: x\r\nOrigin: https://dash.example\r\n\r\n');
    assert.match(stream, /^HTTP\/1\.1 200 OK\r\n[\s\S]*access-control-allow-origin: https:\/\/dash\.example\r\n/i);
    const plain = await rawHead(url, 'GET /stream HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n');
    assert.doesNotMatch(plain, /access-control/i);
  });

  test('is off by default', async () => {
    const { server: plain, url: plainUrl } = await startServer({ source: 'synthetic:160x120@5' });
    try {
      const response = await fetch(`${plainUrl}/api/stats`, { headers: { origin: 'https://dash.example' } });
      assert.equal(response.headers.get('access-control-allow-origin'), null);
      assert.equal((await fetch(`${plainUrl}/api/stats`, { method: 'OPTIONS' })).status, 404);
    } finally {
      await plain.stop();
    }
  });
});

describe('limits', () => {
  test('max-viewers and max-viewers-per-client answer 503 with Retry-After, and free up when a viewer leaves', async () => {
    const { server, url } = await startServer({ source: 'synthetic:160x120@10', limits: { maxViewers: 3, maxViewersPerClient: 2 } });
    try {
      const first = connectMjpeg(url);
      const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
      await Promise.all([first.waitForParts(1), new Promise((resolve) => ws.once('open', resolve))]);
      const refused = await fetch(`${url}/stream`);
      assert.equal(refused.status, 503, 'a third stream from one address (the WebSocket counts)');
      assert.equal(refused.headers.get('retry-after'), '10');
      assert.match(((await refused.json()) as { message: string }).message, /limit per client \(max-viewers-per-client\)/);
      ws.terminate();
      // The slot frees once the server has seen the WebSocket go: until then a new stream
      // may still be refused, so try until one is let in (only a slot that is never
      // freed reaches the ceiling).
      let second = connectMjpeg(url);
      await eventually(async () => {
        const { statusLine } = await second.head;
        if (statusLine.startsWith('HTTP/1.1 200')) return true;
        second.close();
        second = connectMjpeg(url);
        return false;
      }, () => 'a stream is let in once the WebSocket left', { stepMs: 50 });
      await second.waitForParts(1);
      first.close();
      second.close();
    } finally {
      await server.stop();
    }
  });

  test('behind a trusted proxy, X-Forwarded-For names the client (per-client limits, stats); untrusted, it is ignored', async () => {
    const request = (forwardedFor: string): string => `GET /stream HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${forwardedFor}\r\n\r\n`;
    const trusted = await startServer({ source: 'synthetic:160x120@10', trustProxy: 'loopback', limits: { maxViewersPerClient: 1 } });
    try {
      const viewers = [connectMjpeg(trusted.url, '/stream', request('198.51.100.7')), connectMjpeg(trusted.url, '/stream', request('203.0.113.9'))];
      await Promise.all(viewers.map((viewer) => viewer.waitForParts(1)));
      assert.match(await rawHead(trusted.url, request('198.51.100.7')), /^HTTP\/1\.1 503/, 'a second stream for the same forwarded client');
      const stats = (await (await fetch(`${trusted.url}/api/stats`)).json()) as { cameras: { viewerList: { remote: string }[] }[] };
      assert.deepEqual(stats.cameras[0]?.viewerList.map((viewer) => viewer.remote.split(':')[0]).sort(), ['198.51.100.7', '203.0.113.9']);
      for (const viewer of viewers) viewer.close();
    } finally {
      await trusted.server.stop();
    }
    const untrusted = await startServer({ source: 'synthetic:160x120@10', limits: { maxViewersPerClient: 1 } });
    try {
      const viewer = connectMjpeg(untrusted.url, '/stream', request('198.51.100.7'));
      await viewer.waitForParts(1);
      assert.match(await rawHead(untrusted.url, request('203.0.113.9')), /^HTTP\/1\.1 503/, 'a forged header does not make a new client');
      viewer.close();
    } finally {
      await untrusted.server.stop();
    }
  });

  test('streams served by a viewer loop (--workers) count until they end there', async () => {
    const { server, url } = await startServer({ source: 'synthetic:160x120@10', workers: 1, limits: { maxViewers: 2 } });
    try {
      const viewers = [connectMjpeg(url), connectMjpeg(url)];
      await Promise.all(viewers.map((viewer) => viewer.waitForParts(2)));
      const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { viewers: number }[] };
      assert.equal(stats.cameras[0]?.viewers, 2);
      assert.equal((await fetch(`${url}/stream`)).status, 503, 'both slots taken, one of them in the loop');
      for (const viewer of viewers) viewer.close();
      await eventually(async () => (await fetch(`${url}/snapshot`)).ok && (await rawHead(url, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n')).startsWith('HTTP/1.1 200'), 'freed once they left', { stepMs: 200 });
    } finally {
      await server.stop();
    }
  });

  test('a request head over max-header-bytes gets 431; a request that never finishes is cut; streams are not', async () => {
    const { server, url } = await startServer({ source: 'synthetic:160x120@10', limits: { maxHeaderBytes: 4096, requestTimeoutSeconds: 1 } });
    try {
      assert.match(await rawHead(url, `GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
      const viewer = connectMjpeg(url);
      await viewer.waitForParts(1);
      // The configured request timeout is the one Node enforces, checked every second
      // (Node's defaults, 300 s checked every 30 s, would let a slowloris hold a
      // connection for minutes). How soon the cut comes is Node's timer; what the test
      // checks is that the cut comes.
      // (connectionsCheckingInterval is a property of Node's http.Server its types leave out.)
      const http = server.http.server as typeof server.http.server & { connectionsCheckingInterval: number };
      assert.deepEqual({ requestTimeout: http.requestTimeout, headersTimeout: http.headersTimeout }, { requestTimeout: 1000, headersTimeout: 1000 });
      assert.ok(http.connectionsCheckingInterval <= 1000, `checked every ${http.connectionsCheckingInterval} ms`);
      // Slowloris: a request head that never ends.
      const { hostname, port } = new URL(url);
      const slow = net.connect(Number(port), hostname);
      slow.write('GET /api/stats HTTP/1.1\r\nHost: x\r\n');
      let answer = '';
      let cut = false;
      slow.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      slow.once('close', () => (cut = true));
      await eventually(() => cut, () => `the half-sent request is cut; answer so far: ${JSON.stringify(answer)}`);
      assert.match(answer, /^$|^HTTP\/1\.1 408/, 'closed, or told it timed out');
      // The stream is older than the request timeout, and the check that cut the
      // slowloris saw it too: it still flows.
      const before = viewer.parts.length;
      await viewer.waitForParts(before + 5);
      assert.equal(viewer.socket.destroyed, false, 'the stream is still open');
      viewer.close();
    } finally {
      await server.stop();
    }
  });
});

describe('TLS', { skip: requireTool('openssl', 'openssl') }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'camstream-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('serves HTTPS: stats and an MJPEG stream over TLS, with the certificate given', async () => {
    const cert = readFileSync(join(dir, 'cert.pem'));
    const { server, url } = await startServer({ source: 'synthetic:160x120@10', tls: { cert, key: readFileSync(join(dir, 'key.pem')) } });
    try {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const get = (path: string, bytes: number): Promise<{ status: number; body: Buffer }> =>
        new Promise((resolve, reject) => {
          const request = https.get(`${url}${path}`, { ca: cert }, (response) => {
            const chunks: Buffer[] = [];
            let size = 0;
            response.on('data', (chunk: Buffer) => {
              chunks.push(chunk);
              size += chunk.length;
              if (size >= bytes) {
                request.destroy();
                resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) });
              }
            });
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
          });
          request.on('error', reject);
        });
      const stats = await get('/api/stats', Infinity);
      assert.equal(stats.status, 200);
      assert.equal((JSON.parse(stats.body.toString()) as { cameras: unknown[] }).cameras.length, 1);
      const stream = await get('/stream', 20_000);
      assert.equal(stream.status, 200);
      assert.ok(stream.body.includes(Buffer.from([0xff, 0xd8, 0xff])), 'JPEG data over TLS');
    } finally {
      await server.stop();
    }
  });

  test('workers with TLS is refused with the reason and the way out', async () => {
    await assert.rejects(
      startServer({ workers: 1, tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) } }),
      /workers cannot be used with TLS.*terminate TLS in a reverse proxy/,
    );
  });
});
