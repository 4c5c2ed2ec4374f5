import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { WebSocket, type RawData } from 'ws';
import { decodeFrameMessage } from '../src/http/ws-message.js';
import type { Camstream } from '../src/index.js';
import { exchange, serverFault, unexpectedSuccess, type Answer } from './helpers/fuzz-answers.js';
import { CAMERA_IDS, FPS, MAX_HEADER_BYTES, REQUEST_TIMEOUT_SECONDS, requestArbitrary, RUNS, SEED, SHRINK_LIMIT_MS, TOKEN, type FuzzRequest } from './helpers/fuzz-requests.js';
import { connectMjpeg, type MjpegClient } from './helpers/mjpeg-client.js';
import { eventually, startServer } from './helpers/server.js';

/**
 * Property-based fuzzing (fast-check) of request lines, headers and query strings
 * over raw TCP, while two MJPEG viewers and one WebSocket viewer watch the same
 * server. Raw sockets on purpose: fetch would normalise (or refuse to send) the
 * very requests worth trying.
 *
 * Each request is sent on its own connection and its answer read up to a bounded
 * amount. Properties: every request gets a status line (or, for one that is not
 * well-formed HTTP, a closed connection), never a 5xx, never a stack trace; a 2xx
 * only for a request that is actually valid. Afterwards the server still answers
 * /healthz and the viewers lost no frame.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed as a diagnostic and in any
 * failure), FUZZ_RUNS=<n> sets the runs per property (default 200: 2 properties
 * on each of 2 servers, 800 requests plus any shrinking; a few seconds).
 */

// ---------------------------------------------------------------- the server and its viewers

interface WsViewer {
  socket: WebSocket;
  /** Sequence numbers of the frames received, in order. */
  sequences: number[];
  closed: boolean;
}

interface Fixture {
  server: Camstream;
  url: string;
  port: number;
  authOn: boolean;
  /** The two MJPEG viewers, by what they watch. */
  viewers: { name: string; client: MjpegClient }[];
  ws: WsViewer;
  rssBeforeBytes: number;
  /** Statuses seen, for the diagnostics: how much of the space the fuzzing reached. */
  statuses: Map<string, number>;
  requests: number;
  requestMs: number;
}

const toBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

async function connectWs(url: string, path: string, headers: Record<string, string>): Promise<WsViewer> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, { headers });
  const viewer: WsViewer = { socket, sequences: [], closed: false };
  socket.on('message', (data, isBinary) => {
    if (isBinary) viewer.sequences.push(decodeFrameMessage(toBuffer(data)).sequence);
  });
  socket.once('close', () => (viewer.closed = true));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return viewer;
}

async function startFixture(authOn: boolean): Promise<Fixture> {
  const { server, url } = await startServer({
    cameras: CAMERA_IDS.map((id) => ({ id, source: `synthetic:320x240@${FPS}`, alwaysOn: true })),
    ...(authOn ? { auth: { tokens: [TOKEN] } } : {}),
    limits: { maxHeaderBytes: MAX_HEADER_BYTES, requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS },
  });
  const authLine = authOn ? `Authorization: Bearer ${TOKEN}\r\n` : '';
  const viewers = ['/stream', '/cam/b/stream'].map((path) => ({
    name: path,
    client: connectMjpeg(url, path, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: camstream-test\r\n${authLine}\r\n`),
  }));
  const ws = await connectWs(url, '/ws?cameras=b', authOn ? { authorization: `Bearer ${TOKEN}` } : {});
  await Promise.all(viewers.map(({ client }) => client.waitForParts(3)));
  return { server, url, port: Number(new URL(url).port), authOn, viewers, ws, rssBeforeBytes: process.memoryUsage().rss, statuses: new Map(), requests: 0, requestMs: 0 };
}

async function stopFixture(fixture: Fixture | undefined): Promise<void> {
  if (fixture === undefined) return;
  for (const { client } of fixture.viewers) client.close();
  fixture.ws.socket.terminate();
  await fixture.server.stop();
}

/**
 * Runs `property` over fuzzed requests against the fixture's server. A failure
 * names the (shrunk) request and the answer; the seed replays it.
 */
async function fuzz(t: TestContext, fixture: Fixture, seed: number, property: (request: FuzzRequest, answer: Answer) => string | undefined): Promise<void> {
  t.diagnostic(`fast-check seed ${seed}, ${RUNS} runs (replay all with FUZZ_SEED=${SEED})`);
  const started = performance.now();
  try {
    await fc.assert(
      fc.asyncProperty(requestArbitrary(fixture.authOn), async (request) => {
        const answer = await exchange(fixture.port, request);
        fixture.requests++;
        fixture.requestMs += answer.ms;
        const key = answer.status === undefined ? answer.outcome : String(answer.status);
        fixture.statuses.set(key, (fixture.statuses.get(key) ?? 0) + 1);
        const problem = property(request, answer);
        if (problem !== undefined) {
          throw new Error(`${problem}\n    request: ${JSON.stringify(request.text.slice(0, 1000))}\n    answer (${answer.outcome}, ${Math.round(answer.ms)} ms): ${JSON.stringify(answer.raw.toString('latin1'))}`);
        }
      }),
      // Shrinking a failure sends more requests, and one that hangs costs ANSWER_TIMEOUT_MS
      // each time: bound it, so a failure reports in time (with the smallest request found so far).
      { numRuns: RUNS, seed, includeErrorInReport: true, plugins: [fc.interruptAfterTimeLimit(SHRINK_LIMIT_MS)] },
    );
  } finally {
    t.diagnostic(`${Math.round(performance.now() - started)} ms; statuses so far on this server: ${JSON.stringify(Object.fromEntries([...fixture.statuses].sort()))}`);
  }
}

/** Where consecutive sequence numbers jump (a frame the viewer never got), as "a→b". */
function gapsIn(sequences: readonly number[]): string[] {
  const gaps: string[] = [];
  for (let i = 1; i < sequences.length; i++) {
    const previous = sequences[i - 1] as number;
    if (sequences[i] !== previous + 1) gaps.push(`${previous}→${sequences[i]}`);
  }
  return gaps;
}

// ---------------------------------------------------------------- the tests

for (const authOn of [true, false]) {
  describe(`fuzzing requests while viewers stream (auth ${authOn ? 'on: a bearer token' : 'off'})`, () => {
    let fixture: Fixture | undefined;
    const seedOffset = authOn ? 0 : 2;
    before(async () => {
      fixture = await startFixture(authOn);
    });
    after(() => stopFixture(fixture));

    test('every request gets an answer (or, if not well-formed HTTP, a closed connection): never a 5xx, never a stack trace', async (t) => {
      await fuzz(t, fixture as Fixture, SEED + seedOffset, serverFault);
    });

    test(`a 2xx only for a valid request${authOn ? ' (never without the token, but for /healthz and the dashboard\'s code)' : ''}`, async (t) => {
      await fuzz(t, fixture as Fixture, SEED + seedOffset + 1, (request, answer) => unexpectedSuccess(request, answer, authOn));
    });

    test('afterwards the server is up and the viewers lost no frame', async (t) => {
      const f = fixture as Fixture;
      const health = await fetch(`${f.url}/healthz`);
      assert.equal(health.status, 200, '/healthz answers 200');
      t.diagnostic(`${f.requests} fuzz requests, ${Math.round(f.requestMs / Math.max(1, f.requests))} ms each on average`);

      // The sources kept going through the fuzzing: never restarted, still live. (How many
      // frames a second they made depends on how busy the machine was: not checked.)
      const stats = (await (await fetch(`${f.url}/api/stats`, { headers: f.authOn ? { authorization: `Bearer ${TOKEN}` } : {} })).json()) as { cameras: { id: string; state: string; restarts: number }[] };
      assert.deepEqual(stats.cameras.map(({ id, state, restarts }) => ({ id, state, restarts })), CAMERA_IDS.map((id) => ({ id, state: 'live', restarts: 0 })));

      for (const { name, client } of f.viewers) {
        const before = client.parts.length;
        // Still streaming: new frames keep coming.
        await eventually(() => client.parts.length >= before + 3, () => `${name} gets new frames after the fuzzing (${before} parts before, ${client.parts.length} now)`);
        const sequences = client.parts.map((part) => Number(part.headers['x-frame-sequence']));
        // No frame lost: every frame the camera made since the viewer's first is there, in order.
        assert.deepEqual(gapsIn(sequences), [], `${name}: frames missing between these sequence numbers (of ${sequences.length})`);
        const first = client.parts[0] as (typeof client.parts)[number];
        const seconds = (performance.timeOrigin + performance.now()) / 1000 - first.receivedMicros / 1e6;
        t.diagnostic(`${name}: ${sequences.length} frames in ${seconds.toFixed(1)} s (${(sequences.length / seconds).toFixed(1)} fps of ${FPS}), no gaps`);
      }

      const wsBefore = f.ws.sequences.length;
      assert.ok(!f.ws.closed, 'the WebSocket viewer is still connected');
      await eventually(() => f.ws.sequences.length >= wsBefore + 3, () => `the WebSocket viewer gets new frames (${wsBefore} before, ${f.ws.sequences.length} now)`);
      t.diagnostic(`WebSocket viewer of b: ${f.ws.sequences.length} frames, gaps: ${JSON.stringify(gapsIn(f.ws.sequences))}`);

      // Optional sanity bound: the server (in this process) did not balloon.
      const grownMb = (process.memoryUsage().rss - f.rssBeforeBytes) / 2 ** 20;
      t.diagnostic(`RSS grew ${grownMb.toFixed(1)} MB during the fuzzing`);
      assert.ok(grownMb < 200, `RSS grew ${grownMb.toFixed(0)} MB`);
    });
  });
}
