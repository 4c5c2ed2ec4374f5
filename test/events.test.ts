import assert from 'node:assert/strict';
import { after, before, mock, test } from 'node:test';
import type { Camstream, CameraStats } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, startServer } from './helpers/server.js';

let server: Camstream;
let url: string;

before(async () => {
  ({ server, url } = await startServer({ source: 'synthetic:160x120@10' }));
});
after(() => server.stop());

interface StatsEvent {
  time: string;
  cameras: CameraStats[];
}

/** A subscriber of `base`/api/events: the events parsed so far, and the response's Content-Type. */
async function subscribe(base: string): Promise<{ contentType: string | null; events: StatsEvent[]; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${base}/api/events`, { signal: controller.signal });
  const events: StatsEvent[] = [];
  const decoder = new TextDecoder();
  let pending = '';
  void (async () => {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        if (data !== undefined) events.push(JSON.parse(data.slice(6)) as StatsEvent);
      }
    }
  })().catch(() => {}); // aborted by close()
  return { contentType: response.headers.get('content-type'), events, close: () => controller.abort() };
}

/** Reads `count` events from /api/events, then disconnects. */
async function readEvents(count: number): Promise<StatsEvent[]> {
  const subscriber = await subscribe(url);
  try {
    await eventually(() => subscriber.events.length >= count, () => `${count} events from /api/events; got ${subscriber.events.length}`, { stepMs: 10 });
    return subscriber.events.slice(0, count);
  } finally {
    subscriber.close();
  }
}

function fakeJpeg(fill: number): Buffer {
  const bytes = Buffer.alloc(1000, fill);
  bytes.writeUInt16BE(0xffd8, 0);
  bytes.writeUInt16BE(0xffd9, bytes.length - 2);
  return bytes;
}

test('/api/events sends the /api/stats figures at once and then every second', async () => {
  // The period is checked on a mocked interval clock, stepped by hand in tenths of a
  // second; a frame pushed before each step stamps the event a step sends (its
  // framesCaptured), so each event says which step sent it, however late it arrives.
  const source = new PushSource();
  const pushed = await startServer({ cameras: [{ id: 'pushed', source, alwaysOn: true }] });
  mock.timers.enable({ apis: ['setInterval'] });
  let subscriber: Awaited<ReturnType<typeof subscribe>> | undefined;
  try {
    await eventually(() => source.context !== undefined, 'the source started', { stepMs: 5 });
    source.push(fakeJpeg(0));
    const captured = (): number => (pushed.server.cameras[0] as (typeof pushed.server.cameras)[number]).stats().framesCaptured;
    await eventually(() => captured() === 1, 'the first frame captured', { stepMs: 5 });
    subscriber = await subscribe(pushed.url);
    const { events } = subscriber;
    assert.match(subscriber.contentType ?? '', /^text\/event-stream/);
    await eventually(() => events.length >= 1, 'the first event, at once (no interval stepped yet)', { stepMs: 5 });
    assert.equal(events[0]?.cameras[0]?.id, 'pushed');
    assert.equal(events[0]?.cameras[0]?.framesCaptured, 1);

    let step = 0;
    for (const second of [1, 2]) {
      for (let tenth = 1; tenth <= 10; tenth++) {
        source.push(fakeJpeg(++step));
        assert.equal(captured(), step + 1);
        mock.timers.tick(100);
        // A step whose tick sent an event gathers its figures now, before the next push.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await eventually(() => events.length >= second + 1, () => `an event after ${second} s on the interval clock; got ${events.length}`, { stepMs: 5 });
      // The first event after the start is the one the last step of this second sent: no
      // step before it sent one (the events on one connection come in order).
      assert.equal(events[second]?.cameras[0]?.framesCaptured, step + 1, `event ${second} sent after ${step} tenths of a second: ${events.map((event) => event.cameras[0]?.framesCaptured).join(', ')}`);
    }
    assert.notEqual(events[0]?.time, undefined);
    assert.equal(new Set(events.slice(0, 3).map((event) => event.cameras[0]?.framesCaptured)).size, 3, 'each event is a fresh snapshot');
  } finally {
    subscriber?.close();
    mock.timers.reset();
    await pushed.server.stop();
  }
});

test('a viewer that connects shows up in the next events', async () => {
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(2);
    const events = await readEvents(2);
    const camera = events[1]?.cameras[0];
    assert.equal(camera?.viewers, 1);
    assert.equal(camera?.viewerList[0]?.userAgent, 'camstream-test');
  } finally {
    viewer.close();
  }
});
