import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { pino } from 'pino';
import sharp from 'sharp';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory, type Frame } from '../../src/frame/frame.js';
import { CameraCounters } from '../../src/stream/camera-counters.js';
import { MAX_PROFILE_CHANNELS, ProfileChannels, TooManyProfilesError } from '../../src/stream/profile-channels.js';
import { DEFAULT_PROFILES, SOURCE_PROFILE } from '../../src/stream/profile.js';
import { Viewer } from '../../src/stream/viewer.js';
import { encodeJpeg } from '../helpers/jpeg-samples.js';
import { SelfCompletingSink } from './fakes.js';

const silent = pino({ level: 'silent' });
const PROFILE = 'half-q60';

let jpeg: Buffer;
before(async () => {
  jpeg = await encodeJpeg({ width: 64, height: 48, seed: 7 });
});

function setup(): { pool: BufferPool; frames: FrameFactory; channels: ProfileChannels; frameAt: (monoMs: number) => Frame } {
  const pool = new BufferPool();
  const frames = new FrameFactory(pool);
  const channels = new ProfileChannels(frames, DEFAULT_PROFILES, silent);
  return { pool, frames, channels, frameAt: (monoMs) => frames.fromJpeg(jpeg, { monoMs, wallMicros: Math.round(monoMs * 1000) }) };
}

function viewer(options: { requestedFps?: number } = {}): { viewer: Viewer; sink: SelfCompletingSink } {
  const sink = new SelfCompletingSink();
  const v = new Viewer(sink, { remote: 'test' }, { counters: new CameraCounters(), queueCapacity: 1, onClose: () => {}, requestedFps: options.requestedFps });
  return { viewer: v, sink };
}

test('a viewer moves between main and a profile channel; the encoded channel exists only while it has viewers', () => {
  const { channels } = setup();
  const a = viewer();
  const b = viewer();
  channels.move(a.viewer, SOURCE_PROFILE);
  assert.deepEqual(channels.main.viewers, [a.viewer]);
  assert.deepEqual(channels.stats(), {});

  channels.move(a.viewer, PROFILE);
  assert.equal(a.viewer.profile, PROFILE);
  assert.deepEqual(channels.main.viewers, [], 'it left main');
  assert.deepEqual(Object.keys(channels.stats()), [PROFILE]);
  channels.move(b.viewer, PROFILE);
  channels.move(b.viewer, PROFILE); // moving to where it is changes nothing
  assert.equal(channels.stats()[PROFILE]?.viewers, 2);

  channels.move(a.viewer, SOURCE_PROFILE);
  assert.equal(channels.stats()[PROFILE]?.viewers, 1, 'still open for the other viewer');
  channels.leave(b.viewer);
  assert.deepEqual(channels.stats(), {}, 'closed with its last viewer');
  assert.deepEqual(channels.main.viewers, [a.viewer]);
  channels.leave(b.viewer); // twice: nothing happens
  channels.leave(a.viewer);
  assert.deepEqual(channels.main.viewers, []);
});

test('an unknown profile key throws TooManyProfilesError and leaves the viewer where it was', () => {
  const { channels } = setup();
  const a = viewer();
  channels.move(a.viewer, SOURCE_PROFILE);
  assert.throws(() => channels.move(a.viewer, 'w123-q1'), (error: unknown) => error instanceof TooManyProfilesError && /no profile 'w123-q1'/.test(error.message));
  assert.equal(a.viewer.profile, SOURCE_PROFILE);
  assert.deepEqual(channels.main.viewers, [a.viewer]);
  assert.deepEqual(channels.stats(), {});
  // define() makes it known (and does not replace a profile already defined).
  channels.define('w123-q1', { scale: 1, quality: 1, width: 123 });
  channels.move(a.viewer, 'w123-q1');
  assert.deepEqual(Object.keys(channels.stats()), ['w123-q1']);
});

test(`refuses() a new profile once ${MAX_PROFILE_CHANNELS} are encoded, never one already open`, () => {
  const { channels } = setup();
  const keys = Array.from({ length: MAX_PROFILE_CHANNELS + 1 }, (_, i) => `w${100 + i}-q50`);
  keys.forEach((key, i) => channels.define(key, { scale: 1, quality: 50, width: 100 + i }));
  const viewers = keys.map(() => viewer().viewer);
  for (let i = 0; i < MAX_PROFILE_CHANNELS; i++) {
    assert.equal(channels.refuses(keys[i] as string), undefined);
    channels.move(viewers[i] as Viewer, keys[i] as string);
  }
  const last = keys[MAX_PROFILE_CHANNELS] as string;
  assert.match(channels.refuses(last) ?? '', new RegExp(`already encodes ${MAX_PROFILE_CHANNELS} `));
  assert.equal(channels.refuses(keys[0] as string), undefined, 'joining an open channel is fine');
  assert.throws(() => channels.move(viewers[MAX_PROFILE_CHANNELS] as Viewer, last), TooManyProfilesError);
  channels.move(viewers[MAX_PROFILE_CHANNELS] as Viewer, keys[0] as string);
  assert.equal(channels.stats()[keys[0] as string]?.viewers, 2);

  // One channel closes: there is room again.
  channels.leave(viewers[1] as Viewer);
  assert.equal(channels.refuses(last), undefined);
  channels.closeAll();
});

/**
 * Offers the profile encoder a 20 fps burst (20 frames, 50 ms apart), then one frame
 * 10 s later that any gate admits, waits for that one to reach `sink`, and returns
 * how many frames the encoder's gate let in: each was encoded or replaced while
 * waiting (busy); the rest were gated.
 */
async function admittedByGate(setupChannel: (channels: ProfileChannels) => SelfCompletingSink): Promise<number> {
  const { pool, channels, frameAt } = setup();
  const sink = setupChannel(channels);
  for (let i = 0; i < 20; i++) {
    const frame = frameAt(1000 + i * 50);
    channels.encode(frame);
    frame.release(); // the camera's reference; the encoder retained what it keeps
  }
  const last = frameAt(11_000);
  channels.encode(last);
  last.release();
  await sink.received(last.sequence);
  const stats = channels.stats()[PROFILE];
  assert.ok(stats !== undefined);
  assert.equal(stats.failed, 0);
  await sink.idle();
  channels.closeAll();
  assert.equal(pool.stats().inUse, 0, 'every frame went back to the pool');
  return stats.encoded + stats.busy;
}

test('the encoder gate follows the highest frame-rate cap of its viewers', async () => {
  // 10 fps of a 20 fps burst is every other frame: 10, plus the last one.
  const highest = await admittedByGate((channels) => {
    const slow = viewer({ requestedFps: 5 });
    const faster = viewer({ requestedFps: 10 });
    channels.move(slow.viewer, PROFILE);
    channels.move(faster.viewer, PROFILE);
    return faster.sink;
  });
  assert.equal(highest, 11);

  const bothSlow = await admittedByGate((channels) => {
    const a = viewer({ requestedFps: 5 });
    channels.move(a.viewer, PROFILE);
    channels.move(viewer({ requestedFps: 5 }).viewer, PROFILE);
    return a.sink;
  });
  assert.equal(bothSlow, 6);
});

test('the encoder gate is open (undefined) when any viewer is uncapped, and closes again when it leaves', async () => {
  const uncapped = await admittedByGate((channels) => {
    const capped = viewer({ requestedFps: 5 });
    channels.move(capped.viewer, PROFILE);
    const free = viewer();
    channels.move(free.viewer, PROFILE);
    return free.sink;
  });
  assert.equal(uncapped, 21);

  const afterLeaving = await admittedByGate((channels) => {
    const capped = viewer({ requestedFps: 5 });
    channels.move(capped.viewer, PROFILE);
    const free = viewer();
    channels.move(free.viewer, PROFILE);
    channels.move(free.viewer, SOURCE_PROFILE);
    return capped.sink;
  });
  assert.equal(afterLeaving, 6);
});

test('a viewer\'s adaptive cap reaches the gate when it is moved again (to the same channel)', async () => {
  const admitted = await admittedByGate((channels) => {
    const a = viewer();
    channels.move(a.viewer, PROFILE);
    a.viewer.setAdaptiveFps(10);
    channels.move(a.viewer, PROFILE);
    return a.sink;
  });
  assert.equal(admitted, 11);
});

test('encoded frames keep the source frame\'s sequence and reach the profile\'s viewers, not main\'s', async () => {
  const { pool, channels, frameAt } = setup();
  const onMain = viewer();
  const onProfile = viewer();
  channels.move(onMain.viewer, SOURCE_PROFILE);
  channels.move(onProfile.viewer, PROFILE);
  const frame = frameAt(1000);
  channels.encode(frame);
  channels.main.fanOut(frame); // the camera's reference goes to main's latest
  await onProfile.sink.received(frame.sequence);
  assert.deepEqual(onMain.sink.sequences, [frame.sequence]);
  const encoded = channels.latestOf(PROFILE);
  assert.ok(encoded !== undefined);
  assert.equal(encoded.sequence, frame.sequence);
  assert.notEqual(encoded, frame);
  assert.equal((await sharp(encoded.jpeg).metadata()).width, 32, 'half the source\'s 64 px');
  assert.equal(channels.stats()[PROFILE]?.encoded, 1);

  // A viewer joining the profile later gets its latest frame at once.
  const late = viewer();
  channels.move(late.viewer, PROFILE);
  assert.deepEqual(late.sink.sequences, [frame.sequence]);

  await Promise.all([onMain.sink.idle(), onProfile.sink.idle(), late.sink.idle()]);
  channels.closeAll();
  assert.equal(pool.stats().inUse, 0);
});

for (const how of ['clear', 'closeAll'] as const) {
  test(`${how}() releases every channel's latest frame`, async () => {
    const { pool, channels, frameAt } = setup();
    const onMain = viewer();
    const onProfile = viewer();
    channels.move(onMain.viewer, SOURCE_PROFILE);
    channels.move(onProfile.viewer, PROFILE);
    const inUseAtStart = pool.stats().inUse;
    const frame = frameAt(1000);
    channels.encode(frame);
    channels.main.fanOut(frame);
    await onProfile.sink.received(frame.sequence);
    await Promise.all([onMain.sink.idle(), onProfile.sink.idle()]);
    assert.equal(pool.stats().inUse, inUseAtStart + 2, 'main and the profile each hold their latest');

    channels[how]();
    assert.equal(pool.stats().inUse, inUseAtStart);
    assert.equal(channels.latestOf(SOURCE_PROFILE), undefined);
    assert.equal(channels.latestOf(PROFILE), undefined);
    // clear() keeps the encoders for the viewers still there; closeAll() stops them.
    assert.deepEqual(Object.keys(channels.stats()), how === 'clear' ? [PROFILE] : []);
    channels.closeAll();
  });
}
