import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { before, test } from 'node:test';
import { pino } from 'pino';
import { BufferPool } from '../../src/frame/buffer-pool.js';
import { FrameFactory } from '../../src/frame/frame.js';
import { CameraCounters } from '../../src/stream/camera-counters.js';
import { DEFAULT_ENCODE_BUDGET_MS, ProfileChannels } from '../../src/stream/profile-channels.js';
import { DEFAULT_PROFILES } from '../../src/stream/profile.js';
import { Viewer } from '../../src/stream/viewer.js';
import { eventually } from '../helpers/server.js';
import { encodeJpeg } from '../helpers/jpeg-samples.js';
import { SelfCompletingSink } from './fakes.js';

/**
 * The encoding budget in ProfileChannels, with real sharp encodes of real JPEGs.
 * Capture times are the test's own (frames carry `capture.monoMs`, which is all the
 * gates look at), so the rates below do not depend on how fast this machine is;
 * only the encode cost is real, and every expectation holds for any encode that
 * takes between a few microseconds and a few hundred milliseconds.
 */

const silent = pino({ level: 'silent' });
const PROFILE = 'third-q60';
/** The viewer's own frame-rate cap: what the encoder would run at with no budget. */
const VIEWER_FPS = 30;

let jpeg: Buffer;
before(async () => {
  // Big enough that an encode costs a measurable fraction of a millisecond, small enough to stay quick.
  jpeg = await encodeJpeg({ width: 320, height: 240, seed: 14 });
});

function setup(budgetMs: number): { pool: BufferPool; channels: ProfileChannels; sink: SelfCompletingSink; viewer: Viewer; offer: (monoMs: number) => number } {
  const pool = new BufferPool();
  const frames = new FrameFactory(pool);
  const channels = new ProfileChannels(frames, DEFAULT_PROFILES, silent, budgetMs);
  const sink = new SelfCompletingSink();
  const viewer = new Viewer(sink, { remote: 'test' }, { counters: new CameraCounters(), queueCapacity: 1, onClose: () => {}, requestedFps: VIEWER_FPS });
  channels.move(viewer, PROFILE);
  /** Offers a frame captured at `monoMs` as the camera does (it drops its own reference after); returns its sequence. */
  const offer = (monoMs: number): number => {
    const frame = frames.fromJpeg(jpeg, { monoMs, wallMicros: Math.round(monoMs * 1000) });
    channels.encode(frame);
    frame.release();
    return frame.sequence;
  };
  return { pool, channels, sink, viewer, offer };
}

type ProfileStats = ReturnType<ProfileChannels['stats']>[string];

function profileStats(channels: ProfileChannels): ProfileStats {
  const stats = channels.stats()[PROFILE];
  assert.ok(stats !== undefined, `${PROFILE} is encoded`);
  return stats;
}

/** Until every offered frame is accounted for: encoded, replaced while one was encoding, or skipped over budget. */
async function settled(channels: ProfileChannels, offered: number): Promise<ProfileStats> {
  await eventually(
    () => {
      const stats = profileStats(channels);
      return stats.encoded + stats.busy + stats.overBudget === offered;
    },
    () => `all ${offered} frames offered are encoded, busy or over budget: ${JSON.stringify(profileStats(channels))}`,
  );
  return profileStats(channels);
}

test('the default budget is what the library says', () => {
  const channels = new ProfileChannels(new FrameFactory(new BufferPool()), DEFAULT_PROFILES, silent);
  assert.equal(channels.encodeStats().budgetMsPerSecond, DEFAULT_ENCODE_BUDGET_MS);
});

test('over a tiny budget (1 ms per second) the encoder lowers its frame rate below the viewer\'s and counts the frames it skips', async () => {
  const { pool, channels, sink, offer } = setup(1);
  assert.equal(profileStats(channels).maxFps, VIEWER_FPS, 'before any encode, only the viewer\'s cap');

  // The first frame is encoded, and it ran cold: it says nothing of what an encode costs.
  await sink.received(offer(1000));
  const afterFirst = profileStats(channels);
  assert.equal(afterFirst.encoded, 1);
  assert.equal(afterFirst.failed, 0);
  assert.equal(afterFirst.maxFps, VIEWER_FPS, `one cold encode does not cap the encoder: ${JSON.stringify(afterFirst)}`);
  // The second does. One ms of CPU per second pays for 1 / (ms per encode) frames per
  // second: any real encode (over 1/30 ms) makes that fewer than the viewer's 30.
  await sink.received(offer(1050));
  const afterSecond = profileStats(channels);
  assert.equal(afterSecond.encoded, 2);
  assert.ok(afterSecond.maxFps !== null && afterSecond.maxFps < VIEWER_FPS, `the budget caps the encoder below ${VIEWER_FPS} fps: ${JSON.stringify(afterSecond)}`);

  // Two more seconds of capture time at 20 fps: all within the viewer's 30 fps, so
  // only the budget turns frames away.
  const more = 40;
  for (let i = 2; i < 2 + more; i++) offer(1000 + i * 50);
  const stats = await settled(channels, 2 + more);
  const encode = channels.encodeStats();
  assert.equal(encode.budgetMsPerSecond, 1);
  assert.equal(encode.framesOverBudget, stats.overBudget, 'the camera\'s count is its encoders\'');
  // 1 ms per second pays for 1 / (ms per encode) frames a second: over these 2 s,
  // (2 / ms per encode) + the bucket's tokens. Decoding and re-encoding 320x240 costs
  // far more than the 0.1 ms that would let half of the 40 through.
  assert.ok(encode.framesOverBudget > more / 2, `most frames went over budget: ${JSON.stringify({ stats, encode })}`);
  assert.ok(encode.totalMs > 0 && stats.averageMs > 0, JSON.stringify({ stats, encode }));
  assert.ok(stats.maxFps !== null && stats.maxFps < VIEWER_FPS, `still capped: ${JSON.stringify(stats)}`);

  await sink.idle();
  channels.closeAll();
  // A closed encoder's skipped frames still count for the camera.
  assert.equal(channels.encodeStats().framesOverBudget, stats.overBudget);
  assert.equal(pool.stats().inUse, 0, 'every frame went back to the pool');
});

test('with a large budget nothing is over budget and the viewer\'s cap stays the encoder\'s rate', async () => {
  // Every core for the whole second: the most the config accepts.
  const budgetMs = 1000 * availableParallelism();
  const { pool, channels, sink, offer } = setup(budgetMs);
  const first = offer(1000);
  await sink.received(first);
  // 10 fps for 4 s of capture time: the budget pays for that, and for more than the
  // viewer's 30 fps, unless an encode of a 320x240 frame took over 33 ms × cores.
  const more = 40;
  for (let i = 1; i <= more; i++) offer(1000 + i * 100);
  const stats = await settled(channels, 1 + more);
  assert.equal(stats.overBudget, 0, JSON.stringify(stats));
  assert.equal(stats.failed, 0);
  assert.equal(stats.maxFps, VIEWER_FPS, 'the budget allows more than the viewer takes');
  const encode = channels.encodeStats();
  assert.equal(encode.budgetMsPerSecond, budgetMs);
  assert.equal(encode.framesOverBudget, 0);
  assert.ok(stats.encoded >= 2, `encoded more than the first: ${JSON.stringify(stats)}`);

  await sink.idle();
  channels.closeAll();
  assert.equal(pool.stats().inUse, 0, 'every frame went back to the pool');
});

test('a profile\'s channel reopened is budgeted from what its last encoder measured, before its first encode', async () => {
  const { pool, channels, sink, offer, viewer } = setup(1);
  await sink.received(offer(1000));
  await sink.received(offer(1050));
  const measured = profileStats(channels);
  assert.ok(measured.maxFps !== null && measured.maxFps < VIEWER_FPS, JSON.stringify(measured));
  await sink.idle();
  // The viewer leaves the profile (its channel closes), then comes back to it.
  channels.move(viewer, 'source');
  assert.equal(channels.stats()[PROFILE], undefined, 'no viewer, no encoder');
  channels.move(viewer, PROFILE);
  const reopened = profileStats(channels);
  assert.equal(reopened.encoded, 0);
  // Its first encode is budgeted from the figure measured before, not ignored as a cold
  // one: the budget gate's one token lets the next frame through, and the one after that
  // is over budget. (A fresh encoder, knowing nothing, would encode it: its limit comes
  // with its second encode, and the token with the limit.)
  await sink.received(offer(2000));
  await sink.received(offer(2050));
  offer(2100);
  const stats = profileStats(channels);
  assert.deepEqual([stats.encoded, stats.overBudget], [2, 1], JSON.stringify(stats));
  await sink.idle();
  channels.closeAll();
  assert.equal(pool.stats().inUse, 0, 'every frame went back to the pool');
});
