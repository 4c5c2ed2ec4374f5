import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Camstream, CameraStats } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { startServer } from './helpers/server.js';

let server: Camstream;
let url: string;

before(async () => {
  ({ server, url } = await startServer({ source: 'synthetic:160x120@10' }));
});
after(() => server.stop());

interface StatsEvent {
  time: string;
  cameras: CameraStats[];
  receivedMs: number;
}

/** Reads `count` Server-Sent Events from /api/events, then disconnects. */
async function readEvents(count: number): Promise<{ contentType: string | null; events: StatsEvent[] }> {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/events`, { signal: controller.signal });
  const events: StatsEvent[] = [];
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        if (data !== undefined) events.push({ ...(JSON.parse(data.slice(6)) as Omit<StatsEvent, 'receivedMs'>), receivedMs: performance.now() });
      }
      if (events.length >= count) break;
    }
  } finally {
    controller.abort();
  }
  return { contentType: response.headers.get('content-type'), events };
}

test('/api/events sends the /api/stats figures at once and then every second', async () => {
  const { contentType, events } = await readEvents(3);
  assert.match(contentType ?? '', /^text\/event-stream/);
  assert.equal(events.length, 3);
  assert.equal(events[0]?.cameras[0]?.id, 'default');
  const gaps = [1, 2].map((i) => (events[i]?.receivedMs ?? 0) - (events[i - 1]?.receivedMs ?? 0));
  for (const gap of gaps) assert.ok(gap > 700 && gap < 2500, `events ${gap.toFixed(0)} ms apart, expected about 1000`);
  assert.notEqual(events[0]?.time, events[2]?.time, 'each event is a fresh snapshot');
});

test('a viewer that connects shows up in the next events', async () => {
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(2);
    const { events } = await readEvents(2);
    const camera = events[1]?.cameras[0];
    assert.equal(camera?.viewers, 1);
    assert.equal(camera?.viewerList[0]?.userAgent, 'camstream-test');
  } finally {
    viewer.close();
  }
});
