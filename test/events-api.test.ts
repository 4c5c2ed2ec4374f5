import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { BufferPool, Camera, SourceError, type Camstream, type Frame, type FrameSink, type SendDone, type SourceContext, type SourceStateEvent, type ViewerJoinedEvent, type ViewerLeftEvent } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, startServer } from './helpers/server.js';

function fakeJpeg(fill: number, length: number): Buffer {
  const bytes = Buffer.alloc(length, fill);
  bytes.writeUInt16BE(0xffd8, 0);
  bytes.writeUInt16BE(0xffd9, length - 2);
  return bytes;
}

/** A pino logger whose lines the test can read. */
function capturedLog(): { logger: pino.Logger; lines: () => { msg?: string; event?: string; hook?: string }[] } {
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines: () => text.join('').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { msg?: string }) };
}

/** Compile-time checks, never run: the build fails if the events stop being typed by name. */
export function typeChecks(server: Camstream): void {
  // @ts-expect-error: no such event
  server.on('viewer-joind', () => {});
  // @ts-expect-error: a viewer-joined payload has no reason
  server.on('viewer-joined', (event) => event.reason);
  // @ts-expect-error: a source-state's `to` is a state, not any string
  server.once('source-state', (event) => event.to === 'on fire');
  server.off('viewer-left', (event: ViewerLeftEvent) => event.drops + event.framesSent);
}

test('viewer-joined, viewer-left and source-state fire with the documented payloads', async () => {
  const source = new PushSource();
  const { server, url } = await startServer({ source });
  const joined: ViewerJoinedEvent[] = [];
  const left: ViewerLeftEvent[] = [];
  const states: SourceStateEvent[] = [];
  let onceCalls = 0;
  const removed = (): void => assert.fail('a listener removed with off() was called');
  server.on('viewer-joined', (event) => joined.push(event)).on('viewer-left', (event) => left.push(event));
  server.on('source-state', (event) => states.push(event));
  server.once('viewer-joined', () => onceCalls++);
  server.on('viewer-left', removed).off('viewer-left', removed);
  try {
    const viewer = connectMjpeg(url);
    await viewer.head;
    assert.equal(joined.length, 1, 'viewer-joined fires when the stream starts');
    const remote = `127.0.0.1:${viewer.socket.localPort}`;
    const identity = joined[0]?.viewer;
    assert.ok(identity !== undefined && Number.isInteger(identity.id));
    assert.deepEqual(joined[0], { camera: 'default', viewer: { id: identity.id, remote, userAgent: 'camstream-test' } });

    // The on-demand source starts with that viewer and goes live with its first frame.
    await eventually(() => source.context !== undefined, 'the source started', { stepMs: 5 });
    const jpeg = fakeJpeg(7, 10_000);
    source.push(jpeg);
    await viewer.waitForParts(1);
    assert.deepEqual(states, [
      { camera: 'default', from: 'idle', to: 'starting', reason: null },
      { camera: 'default', from: 'starting', to: 'live', reason: null },
    ]);

    // A second viewer, then both leave: the first on its own, the second at stop().
    const second = connectMjpeg(url);
    await second.head;
    assert.equal(onceCalls, 1, 'a once() listener runs once');
    viewer.close();
    await eventually(() => left.length === 1, 'viewer-left after the client went away', { stepMs: 10 });
    assert.deepEqual(left[0], { camera: 'default', viewer: identity, reason: 'client', framesSent: 1, bytesSent: left[0]?.bytesSent, drops: 0 });
    // Its one part: the header, the JPEG and the boundary after it.
    assert.ok((left[0]?.bytesSent ?? 0) > jpeg.length, `bytesSent ${left[0]?.bytesSent}`);
    await server.stop();
    await eventually(() => left.length === 2, 'viewer-left at shutdown', { stepMs: 10 });
    assert.equal(left[1]?.reason, 'shutdown');
    assert.equal(left[1]?.viewer.id, joined[1]?.viewer.id);
    assert.deepEqual(states.at(-1), { camera: 'default', from: 'live', to: 'stopped', reason: null });
  } finally {
    await server.stop();
  }
});

test('source-state says why a source is down: a stall, then the retry', async () => {
  const source = new PushSource();
  const { server } = await startServer({ cameras: [{ id: 'door', source, alwaysOn: true, stallTimeoutSeconds: 0.2 }] });
  const states: SourceStateEvent[] = [];
  server.on('source-state', (event) => states.push(event));
  try {
    // A frame makes it live (pushed again should a busy machine let a start stall
    // before the first one); then none comes.
    await eventually(() => {
      if (!states.some((event) => event.to === 'live')) source.push(fakeJpeg(1, 2000));
      return states.some((event) => event.to === 'live');
    }, () => `a live state; states: ${JSON.stringify(states)}`, { stepMs: 10 });
    const live = states.findIndex((event) => event.to === 'live');
    await eventually(() => states.slice(live).some((event) => event.to === 'retrying'), () => `a retrying state; states: ${JSON.stringify(states)}`, { stepMs: 10 });
    const reason = 'no frame for 0.2 s (stall-timeout)';
    assert.deepEqual(states.slice(live, live + 3), [
      { camera: 'door', from: 'starting', to: 'live', reason: null },
      { camera: 'door', from: 'live', to: 'stalled', reason },
      { camera: 'door', from: 'stalled', to: 'retrying', reason },
    ]);
  } finally {
    await server.stop();
  }
});

test('a listener that throws (or rejects) is logged; other listeners and the stream go on', async () => {
  const source = new PushSource();
  const log = capturedLog();
  const { server, url } = await startServer({ source, logger: log.logger });
  for (const event of ['viewer-joined', 'viewer-left', 'source-state'] as const) {
    server.on(event, () => {
      throw new Error(`listener of ${event} failed`);
    });
  }
  server.on('source-state', async () => {
    throw new Error('async listener failed');
  });
  const joined: ViewerJoinedEvent[] = [];
  server.on('viewer-joined', (event) => joined.push(event));
  try {
    const viewer = connectMjpeg(url);
    await viewer.head;
    assert.equal(joined.length, 1, 'the listener after the throwing one still ran');
    await eventually(() => source.context !== undefined, 'the source started', { stepMs: 5 });
    const sent = [fakeJpeg(1, 3000), fakeJpeg(2, 4000)];
    // Each pushed once the previous one arrived, so none replaces another still on its way.
    for (const [i, jpeg] of sent.entries()) {
      source.push(jpeg);
      await viewer.waitForParts(i + 1);
    }
    const parts = viewer.parts;
    assert.deepEqual(parts.map((part) => part.jpeg), sent);
    viewer.close();
    const failures = (): string[] => log.lines().filter((line) => line.msg?.includes('listener threw') === true).map((line) => String(line.event));
    await eventually(() => failures().includes('viewer-left'), () => `a failing viewer-left listener logged; log: ${JSON.stringify(log.lines())}`, { stepMs: 10 });
    const seen = failures();
    assert.ok(seen.includes('viewer-joined') && seen.includes('source-state'), seen.join());
    // The sync and the async source-state listener each failed twice (idle → starting → live).
    assert.ok(seen.filter((event) => event === 'source-state').length >= 4, seen.join());
  } finally {
    await server.stop();
  }
});

/** A viewer's transport that takes every frame at once and remembers its sequence. */
class RecordingSink extends EventEmitter implements FrameSink {
  readonly sequences: number[] = [];
  send(frame: Frame, done: SendDone): number {
    this.sequences.push(frame.sequence);
    setImmediate(done);
    return frame.part.length;
  }
  end(): void {
    setImmediate(() => this.emit('close'));
  }
  destroy(): void {
    this.end();
  }
}

test("a Camera's event hooks that throw are logged; its viewer and its source's restarts go on", async () => {
  const log = capturedLog();
  let starts = 0;
  const source = {
    url: 'test:flaky',
    nominalFps: undefined,
    context: undefined as SourceContext | undefined,
    async start(context: SourceContext): Promise<void> {
      starts++;
      this.context = context;
      // Every other start fails at once, so the supervisor keeps changing state.
      if (starts % 2 === 1) throw new SourceError('unplugged');
    },
    async stop(): Promise<void> {},
  };
  const boom = (): never => {
    throw new Error('hook failed');
  };
  const camera = new Camera({
    id: 'c',
    source,
    pool: new BufferPool(),
    log: log.logger,
    alwaysOn: true,
    supervisor: { initialRetryMs: 20, maxRetryMs: 20 },
    events: { viewerJoined: boom, viewerLeft: boom, sourceState: boom },
  });
  try {
    camera.start();
    const sink = new RecordingSink();
    const viewer = camera.addViewer(sink, { remote: 'test:1' });
    await eventually(() => starts >= 2 && camera.currentState === 'starting', () => `starts ${starts}, state ${camera.currentState}`, { stepMs: 2 });
    source.context?.publish(source.context.frames.fromJpeg(fakeJpeg(3, 1000)));
    await eventually(() => sink.sequences.length === 1, 'the viewer got the frame', { stepMs: 5 });
    viewer.close('client');
    const hooks = (): string[] => log.lines().filter((line) => line.msg?.includes('listener threw') === true).map((line) => String(line.hook));
    await eventually(() => hooks().includes('viewerLeft'), () => `the viewerLeft hook's failure logged; hooks: ${hooks().join()}`, { stepMs: 5 });
    assert.ok(hooks().includes('viewerJoined') && hooks().includes('sourceState'), hooks().join());
  } finally {
    await camera.stop();
  }
});
