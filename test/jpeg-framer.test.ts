import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { BufferPool, CLASS_SIZES, classIndexFor, Frame, FrameFactory, FrameSizeError } from '../src/frame/index.js';
import { JpegFramer, type JpegDiscardReason, type JpegFramerOptions, type JpegFramerStats } from '../src/frame/jpeg-framer.js';
import { ffmpegJpegs, ffmpegMjpegArgs, makeJpegSamples, markerCodes } from './helpers/jpeg-samples.js';
import { requireTool } from './helpers/tools.js';

const samples = await makeJpegSamples();
const noFfmpeg = requireTool('ffmpeg', 'ffmpeg');
/** JPEGs with a DRI segment and RST markers in their scans (ffmpeg writes them; sharp cannot). */
const restartJpegs = noFfmpeg ? [] : await ffmpegJpegs(2);

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

interface Harness {
  pool: BufferPool;
  framer: JpegFramer;
  /** Emitted frames, still held (released by releaseAll) so the test sees what the framer keeps. */
  frames: Frame[];
  discards: { reason: JpegDiscardReason; bytes: number }[];
  jpegs(): Buffer[];
  releaseAll(): void;
}

function harness(options?: JpegFramerOptions): Harness {
  const pool = new BufferPool();
  const frames: Frame[] = [];
  const discards: Harness['discards'] = [];
  const framer = new JpegFramer(new FrameFactory(pool), (frame) => frames.push(frame), options, (reason, bytes) => discards.push({ reason, bytes }));
  return {
    pool,
    framer,
    frames,
    discards,
    jpegs: () => frames.map((frame) => Buffer.from(frame.jpeg)),
    releaseAll: () => {
      for (const frame of frames.splice(0)) frame.release();
    },
  };
}

function counters(partial: Partial<JpegFramerStats>): JpegFramerStats {
  return { frames: 0, bytesSkipped: 0, truncated: 0, oversize: 0, corrupt: 0, regrows: 0, ...partial };
}

/** Pushes `stream` in chunks of the given sizes, cycling through them. */
function feed(framer: JpegFramer, stream: Buffer, chunkSizes: readonly number[] = [stream.length || 1]): void {
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = chunkSizes[i % chunkSizes.length] as number;
    framer.push(stream.subarray(at, at + size));
    at += size;
  }
}

/** Offsets of the bytes that follow an FF inside the first scan's entropy data (stuffing or RST). */
function scanFfOffsets(jpeg: Buffer): number[] {
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  const dataStart = sos + 2 + jpeg.readUInt16BE(sos + 2);
  const offsets: number[] = [];
  for (let i = dataStart; i < jpeg.length - 2; i++) if (jpeg[i] === 0xff) offsets.push(i + 1);
  return offsets;
}

const realSamples: [string, Buffer][] = [
  ['tiny baseline', samples.tiny],
  ['baseline', samples.baseline],
  ['progressive', samples.progressive],
  ['EXIF thumbnail in APP1', samples.exifThumbnail],
  ['FF fill bytes before a marker', samples.fillBytes],
  ['large (regrows its first buffer)', samples.large],
  ...restartJpegs.map((jpeg, i): [string, Buffer] => [`restart intervals (ffmpeg) #${i}`, jpeg]),
];

test('each real JPEG comes out whole and byte for byte, whole or in 1-byte chunks', () => {
  for (const [name, jpeg] of realSamples) {
    for (const chunking of [[jpeg.length], [1], [7, 1, 300]]) {
      const h = harness();
      feed(h.framer, jpeg, chunking);
      assert.deepEqual(h.jpegs(), [jpeg], `${name}, chunks ${chunking}`);
      assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1, regrows: jpeg === samples.large ? 1 : 0 }), name);
      assert.match(h.frames[0]?.part.toString('latin1', 0, 80) ?? '', new RegExp(`Content-Length: ${jpeg.length}\r\n`));
      h.releaseAll();
      assert.equal(h.pool.stats().inUse, 0);
    }
  }
});

test('an EXIF thumbnail (its own FF D8 … FF D9 inside APP1) does not end the frame', () => {
  const jpeg = samples.exifThumbnail;
  // The trap is real: the first FF D9 is the thumbnail's, far before the end.
  assert.ok(jpeg.indexOf(EOI) < jpeg.length - 1000);
  assert.equal(jpeg.indexOf(SOI, 2) < 100, true);
  const h = harness();
  feed(h.framer, Buffer.concat([jpeg, jpeg]), [5]);
  assert.deepEqual(h.jpegs(), [jpeg, jpeg]);
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 2 }));
});

test('progressive JPEG: scans separated by DHT segments stay in one frame', () => {
  const codes = markerCodes(samples.progressive);
  assert.ok(codes.filter((code) => code === 0xda).length >= 5, 'several SOS scans');
  const h = harness();
  feed(h.framer, Buffer.concat([samples.progressive, samples.baseline, samples.progressive]), [64]);
  assert.deepEqual(h.jpegs(), [samples.progressive, samples.baseline, samples.progressive]);
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 3 }));
});

test('restart markers (RST0–7) inside a scan do not end it', { skip: noFfmpeg }, () => {
  for (const jpeg of restartJpegs) {
    const codes = markerCodes(jpeg);
    assert.ok(codes.includes(0xdd), 'DRI segment');
    assert.ok(codes.filter((code) => code >= 0xd0 && code <= 0xd7).length >= 3, 'RST markers');
  }
  const h = harness();
  feed(h.framer, Buffer.concat(restartJpegs), [1]);
  assert.deepEqual(h.jpegs(), restartJpegs);
});

test('ffmpeg -f mjpeg on stdout, pushed as the pipe delivers it, gives the same JPEGs as ffmpeg writing files', { skip: noFfmpeg }, async () => {
  const h = harness();
  const child = spawn('ffmpeg', ffmpegMjpegArgs(2, ['-f', 'mjpeg', 'pipe:1']), { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (chunk: Buffer) => h.framer.push(chunk));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.deepEqual(h.jpegs(), restartJpegs);
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 2 }));
});

test('structure: TEM, RST between segments, fill bytes, stuffing, a DHT between scans, an empty SOS header', () => {
  // Not a decodable picture: every marker rule of the parser in a few bytes.
  const jpeg = Buffer.from([
    0xff, 0xd8,
    0xff, 0x01, // TEM: no length
    0xff, 0xd3, // RST between segments: no length
    0xff, 0xff, 0xff, 0xfe, 0x00, 0x06, 0xff, 0xd9, 0xff, 0xd8, // fill bytes, then a COM whose text is FF D9 FF D8
    0xff, 0xda, 0x00, 0x03, 0xff, // SOS header (its one byte is FF)
    0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xd7, 0x78, // scan: stuffing, RST0, fill + RST7
    0xff, 0xc4, 0x00, 0x04, 0xff, 0xd9, // DHT between scans, its payload FF D9
    0xff, 0xda, 0x00, 0x02, // SOS with an empty header
    0x9a, 0xff, 0xff, 0xff, 0xd9,
  ]);
  for (const chunking of [[jpeg.length], [1], [2], [3]]) {
    const h = harness();
    feed(h.framer, Buffer.concat([jpeg, jpeg]), chunking);
    assert.deepEqual(h.jpegs(), [jpeg, jpeg], `chunks ${chunking}`);
    assert.deepEqual({ ...h.framer.stats }, counters({ frames: 2 }));
  }
});

test('garbage before, between and after frames is skipped and counted exactly', () => {
  const garbage = [
    Buffer.from('HTTP/1.1 200 OK\r\n\r\n--boundary\r\nContent-Type: image/jpeg\r\n\r\n', 'latin1'),
    Buffer.from([0xff, 0xd9, 0xff, 0x00, 0xff, 0xff, 0x12]), // markers without an SOI
    Buffer.from([0x00, 0xff, 0xff, 0xff]), // FFs right before the next SOI: FF FF FF FF D8
    Buffer.from('\r\n--boundary--\r\n', 'latin1'),
  ];
  const [g0, g1, g2, g3] = garbage as [Buffer, Buffer, Buffer, Buffer];
  const stream = Buffer.concat([g0, samples.baseline, g1, samples.exifThumbnail, g2, samples.progressive, g3]);
  for (const chunking of [[stream.length], [1], [13]]) {
    const h = harness();
    feed(h.framer, stream, chunking);
    assert.deepEqual(h.jpegs(), [samples.baseline, samples.exifThumbnail, samples.progressive]);
    assert.deepEqual({ ...h.framer.stats }, counters({ frames: 3, bytesSkipped: g0.length + g1.length + g2.length + g3.length }));
  }
});

test('a JPEG cut in half, then a whole one: the half is discarded as truncated', () => {
  const half = samples.large.subarray(0, samples.large.length >> 1);
  for (const chunking of [[1_000_000], [1], [4096]]) {
    const h = harness();
    feed(h.framer, Buffer.concat([half, samples.exifThumbnail, samples.baseline]), chunking);
    assert.deepEqual(h.jpegs(), [samples.exifThumbnail, samples.baseline]);
    assert.deepEqual(h.discards, [{ reason: 'truncated', bytes: half.length }]);
    assert.deepEqual({ ...h.framer.stats }, counters({ frames: 2, truncated: 1 }));
    h.releaseAll();
    assert.equal(h.pool.stats().inUse, 0);
  }
});

test('a cut right after an FF in the scan: FF | FF D8 still starts the next frame', () => {
  const cut = scanFfOffsets(samples.baseline)[0] as number; // just after the first FF in the scan
  const head = samples.baseline.subarray(0, cut);
  assert.equal(head[head.length - 1], 0xff);
  for (const chunking of [[head.length], [1]]) {
    const h = harness();
    feed(h.framer, Buffer.concat([head, samples.tiny]), chunking);
    assert.deepEqual(h.jpegs(), [samples.tiny]);
    assert.deepEqual(h.discards, [{ reason: 'truncated', bytes: head.length }]);
    assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1, truncated: 1 }));
  }
});

test('a cut inside a segment payload: the segment swallows the next JPEG\'s head, which is lost; the one after is fine', () => {
  // Documents the limit of following lengths: a cut JPEG is only noticed at a marker.
  const cut = samples.exifThumbnail.subarray(0, 30); // inside the EXIF APP1
  const h = harness();
  feed(h.framer, Buffer.concat([cut, samples.baseline, samples.tiny]), [1]);
  assert.deepEqual(h.jpegs(), [samples.tiny]);
  const swallowed = samples.exifThumbnail.readUInt16BE(4) + 4 - cut.length; // rest of the APP1
  const brokenAt = cut.length + swallowed; // the baseline byte where a marker was expected
  assert.notEqual(samples.baseline[swallowed], 0xff);
  assert.deepEqual(h.discards, [{ reason: 'corrupt', bytes: brokenAt }]);
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1, corrupt: 1, bytesSkipped: samples.baseline.length - swallowed }));
});

test('corrupt structure is discarded and the framer resynchronises at the next SOI', () => {
  const dqtLength = samples.baseline.readUInt16BE(4);
  const damagedAt = 4 + dqtLength; // the FF of the marker after the first DQT
  const damaged = Buffer.from(samples.baseline);
  damaged[damagedAt] = 0x00;
  assert.equal(damaged.indexOf(SOI, 2), -1, 'no other SOI in the damaged JPEG');
  const cases: [string, Buffer, number, number][] = [
    // [name, bytes, discarded bytes, skipped bytes]
    ['a segment not starting with FF', damaged, damagedAt, damaged.length - damagedAt],
    ['a segment length below 2', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01, 0x55]), 5, 2],
    ['FF 00 where a marker belongs', Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x55]), 3, 2],
  ];
  for (const [name, bad, discarded, skipped] of cases) {
    for (const chunking of [[1_000_000], [1]]) {
      const h = harness();
      feed(h.framer, Buffer.concat([bad, samples.tiny]), chunking);
      assert.deepEqual(h.jpegs(), [samples.tiny], name);
      assert.deepEqual(h.discards, [{ reason: 'corrupt', bytes: discarded }], name);
      assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1, corrupt: 1, bytesSkipped: skipped }), name);
      assert.equal(h.pool.stats().inUse, 1, 'only the emitted frame is held');
    }
  }
});

test('a frame over maxFrameBytes is discarded as oversize; the framer skips to the next SOI', () => {
  const maxFrameBytes = 2000;
  assert.ok(samples.progressive.length > maxFrameBytes && samples.exifThumbnail.length <= maxFrameBytes);
  for (const chunking of [[1_000_000], [1], [500]]) {
    const h = harness({ maxFrameBytes });
    feed(h.framer, Buffer.concat([samples.baseline, samples.progressive, samples.exifThumbnail]), chunking);
    assert.deepEqual(h.jpegs(), [samples.baseline, samples.exifThumbnail]);
    assert.deepEqual(h.discards, [{ reason: 'oversize', bytes: maxFrameBytes }]);
    assert.deepEqual({ ...h.framer.stats }, counters({ frames: 2, oversize: 1, bytesSkipped: samples.progressive.length - maxFrameBytes }));
    h.releaseAll();
    assert.equal(h.pool.stats().inUse, 0);
  }
});

test('maxFrameBytes is inclusive: a JPEG of exactly that size passes, one byte less discards it', () => {
  const jpeg = samples.baseline;
  const exact = harness({ maxFrameBytes: jpeg.length });
  feed(exact.framer, jpeg, [1]);
  assert.deepEqual(exact.jpegs(), [jpeg]);
  const under = harness({ maxFrameBytes: jpeg.length - 1 });
  feed(under.framer, Buffer.concat([jpeg, samples.tiny]), [1]);
  assert.deepEqual(under.jpegs(), [samples.tiny]);
  // The last byte (EOI's D9) is rescanned outside the frame.
  assert.deepEqual({ ...under.framer.stats }, counters({ frames: 1, oversize: 1, bytesSkipped: 1 }));
  assert.throws(() => new JpegFramer(new FrameFactory(new BufferPool()), () => {}, { maxFrameBytes: 3 }), FrameSizeError);
});

test('a truncated JPEG whose next SOI lands exactly on the size limit still lets the next frame through', () => {
  const head = samples.baseline.subarray(0, scanFfOffsets(samples.baseline)[0] as number); // ends with FF
  const h = harness({ maxFrameBytes: head.length });
  feed(h.framer, Buffer.concat([head, samples.tiny.subarray(1)]), [1]); // head's FF is also the SOI's FF
  const tinyLimited = harness({ maxFrameBytes: head.length });
  feed(tinyLimited.framer, samples.tiny);
  assert.equal(tinyLimited.frames.length, 1, 'tiny fits the limit');
  assert.deepEqual(h.jpegs(), [samples.tiny]);
  assert.deepEqual(h.discards, [{ reason: 'truncated', bytes: head.length - 1 }]);
});

test('memory stays bounded for a stream that starts a frame and never ends it', () => {
  const maxFrameBytes = 64 * 1024;
  const h = harness({ maxFrameBytes });
  const scanStart = Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]);
  const endless = Buffer.alloc(16 * 1024, 0x42);
  h.framer.push(scanStart);
  for (let i = 0; i < 64; i++) h.framer.push(endless); // 1 MiB of entropy data
  const stats = h.pool.stats();
  assert.ok(stats.bytesPooled <= 2 * Frame.capacityFor(maxFrameBytes), `pooled ${stats.bytesPooled}`);
  assert.equal(stats.inUse, 0);
  assert.deepEqual(h.discards, [{ reason: 'oversize', bytes: maxFrameBytes }]);
  assert.deepEqual({ ...h.framer.stats }, counters({ oversize: 1, bytesSkipped: scanStart.length + 64 * endless.length - maxFrameBytes }));
});

/** The JPEG with a COM segment of `size` payload bytes after SOI: a valid JPEG `size + 4` bytes longer. */
function withComment(jpeg: Buffer, size: number): Buffer {
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(size + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, Buffer.alloc(size, 0x20), jpeg.subarray(2)]);
}

test('a steady camera regrows once, on its first frame over 64 KiB, then never; once warm the pool is never missed', () => {
  const h = harness();
  const firstCapacity = (CLASS_SIZES[classIndexFor(Frame.capacityFor(64 * 1024))] as number) - Frame.capacityFor(0);
  assert.ok(samples.large.length > firstCapacity, 'the large sample outgrows the first buffer');
  // Frame sizes jitter by up to 15 %, across a pool class boundary (128 KiB), and chunk
  // sizes vary: the estimate's headroom covers it.
  const jitter = Array.from({ length: 20 }, (_, i) => withComment(samples.large, ((i * 7919) % 18_000) + 1));
  const run = (): void => {
    for (const [i, jpeg] of jitter.entries()) {
      feed(h.framer, jpeg, [i % 2 === 0 ? 4096 : 65536]);
      assert.deepEqual(h.jpegs(), [jpeg]);
      h.releaseAll();
    }
  };
  run(); // warm-up: the pool gets buffers of the classes this camera needs
  const warm = h.pool.stats();
  run();
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 40, regrows: 1 }));
  assert.equal(h.pool.stats().misses, warm.misses, 'no pool allocation once warm');
  assert.equal(h.pool.stats().inUse, 0);
});

test('reset() mid-frame releases the buffer and counts nothing; a held FF is counted as skipped', () => {
  const h = harness();
  feed(h.framer, samples.baseline.subarray(0, 700), [100]);
  assert.equal(h.pool.stats().inUse, 1);
  h.framer.reset();
  assert.equal(h.pool.stats().inUse, 0);
  feed(h.framer, samples.tiny);
  assert.deepEqual(h.jpegs(), [samples.tiny]);
  assert.deepEqual(h.discards, []);
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1 }));

  h.framer.push(Buffer.from([0x01, 0xff]));
  h.framer.reset(); // the FF could have begun an SOI; after a restart it cannot
  h.framer.push(samples.tiny.subarray(1)); // D8 …: no SOI any more
  assert.deepEqual({ ...h.framer.stats }, counters({ frames: 1, bytesSkipped: 2 + samples.tiny.length - 1 }));
  h.releaseAll();
  assert.equal(h.pool.stats().inUse, 0);
});

test('plain Uint8Array chunks (views with an offset) work like Buffers', () => {
  const backing = new Uint8Array(samples.baseline.length + 10);
  backing.set(samples.baseline, 10);
  const view = backing.subarray(10);
  const h = harness();
  for (let at = 0; at < view.length; at += 97) h.framer.push(view.subarray(at, at + 97));
  assert.deepEqual(h.jpegs(), [samples.baseline]);
});

// ---- properties ----

/** The JPEGs a property stream is made of: every real sample (the large one only sometimes: it is 120 KB). */
const smallSamples = realSamples.filter(([, jpeg]) => jpeg !== samples.large).map(([, jpeg]) => jpeg);
const anyJpeg = fc.oneof({ arbitrary: fc.constantFrom(...smallSamples), weight: 9 }, { arbitrary: fc.constant(samples.large), weight: 1 });

/**
 * Garbage between frames, heavy in FF, D8, D9 and 00 so it looks like markers. It
 * must not contain FF D8: that is an SOI, and a real one as far as any framer can
 * tell, so it would start a frame (then discarded as truncated or corrupt) and the
 * expected output would no longer be "exactly the JPEGs". Garbage ending in FF is
 * fine (FF FF D8 is fill then SOI); garbage after a JPEG cannot form FF D8 with it,
 * since a JPEG ends in D9.
 */
const garbage = fc
  .array(fc.oneof(fc.constantFrom(0xff, 0xd8, 0xd9, 0x00), fc.integer({ min: 0, max: 255 })), { maxLength: 40 })
  .map((bytes) => {
    for (let i = 1; i < bytes.length; i++) if (bytes[i - 1] === 0xff && bytes[i] === 0xd8) bytes[i] = 0xd9;
    return Buffer.from(bytes);
  });

/** Chunk sizes, used in turn: 1-byte chunks, tiny ones that split markers, or large ones. */
const chunking = fc.oneof(
  fc.constant([1]),
  fc.array(fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 20_000 })), { minLength: 1, maxLength: 12 }),
);

/** Pushes some chunks as plain Uint8Array copies rather than Buffers. */
function feedMixed(framer: JpegFramer, stream: Buffer, chunkSizes: readonly number[]): void {
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = chunkSizes[i % chunkSizes.length] as number;
    const chunk = stream.subarray(at, at + size);
    framer.push(i % 3 === 2 ? new Uint8Array(chunk) : chunk);
    at += size;
  }
}

/**
 * Regrows the framer should need for these frame sizes, from its documented estimate
 * (largest of the last 8 frames × 1.25, at least 64 KiB, rounded up to a pool class).
 * The pool may hand out the next class up; for these samples' sizes that never
 * changes whether a frame fits, and one regrow (at least doubling) always suffices.
 */
function expectedRegrows(sizes: readonly number[]): number {
  let regrows = 0;
  sizes.forEach((size, i) => {
    const largest = Math.max(0, ...sizes.slice(Math.max(0, i - 8), i));
    const estimate = Math.max(64 * 1024, Math.ceil(largest * 1.25));
    const capacity = (CLASS_SIZES[classIndexFor(Frame.capacityFor(estimate))] as number) - Frame.capacityFor(0);
    if (size > capacity) regrows++;
  });
  return regrows;
}

test('property: JPEGs with garbage between them, in any chunking, come out exactly, in order', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(garbage, anyJpeg), { minLength: 1, maxLength: 6 }), garbage, chunking, (pairs, tail, chunks) => {
      const stream = Buffer.concat([...pairs.flat(), tail]);
      const jpegs = pairs.map(([, jpeg]) => jpeg);
      // A trailing FF is held back, not yet skipped: the next chunk may make it an SOI.
      const heldBack = stream[stream.length - 1] === 0xff ? 1 : 0;
      const skipped = pairs.reduce((sum, [g]) => sum + g.length, tail.length) - heldBack;
      const h = harness();
      feedMixed(h.framer, stream, chunks);
      assert.deepEqual(h.jpegs(), jpegs);
      assert.deepEqual(
        { ...h.framer.stats },
        counters({ frames: jpegs.length, bytesSkipped: skipped, regrows: expectedRegrows(jpegs.map((jpeg) => jpeg.length)) }),
      );
      assert.deepEqual(h.discards, []);
      assert.equal(h.pool.stats().inUse, jpegs.length, 'the framer holds nothing between frames');
      h.releaseAll();
      assert.equal(h.pool.stats().inUse, 0);
    }),
    { numRuns: 150 },
  );
});

test('property: reset() at any point mid-stream leaks no buffer, and every JPEG after the next SOI comes out', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(garbage, anyJpeg), { minLength: 1, maxLength: 5 }), fc.double({ min: 0, max: 1, noNaN: true }), chunking, (pairs, where, chunks) => {
      const stream = Buffer.concat(pairs.flat());
      const cut = Math.floor(where * stream.length);
      const ends: number[] = [];
      const starts: number[] = [];
      for (let at = 0, i = 0; i < pairs.length; i++) {
        const [g, jpeg] = pairs[i] as [Buffer, Buffer];
        starts.push(at + g.length);
        at += g.length + jpeg.length;
        ends.push(at);
      }
      const jpegs = pairs.map(([, jpeg]) => jpeg);
      const h = harness();
      feedMixed(h.framer, stream.subarray(0, cut), chunks);
      assert.deepEqual(h.jpegs(), jpegs.filter((_, i) => (ends[i] as number) <= cut));
      h.framer.reset();
      assert.equal(h.pool.stats().inUse, h.frames.length, 'reset released the frame in progress');
      const before = h.frames.length;
      feedMixed(h.framer, stream.subarray(cut), chunks);
      const after = h.jpegs().slice(before);
      // The rest of the frame cut by reset() is skipped, except that an SOI inside it
      // (an EXIF thumbnail's) is a frame start like any other: at most one extra frame.
      const whole = jpegs.filter((_, i) => (starts[i] as number) >= cut);
      assert.deepEqual(after.slice(after.length - whole.length), whole);
      assert.ok(after.length - whole.length <= 1);
      h.framer.reset();
      h.releaseAll();
      assert.equal(h.pool.stats().inUse, 0);
    }),
    { numRuns: 100 },
  );
});

test('property: on damaged streams every byte is accounted for, frames are real substrings, nothing leaks', () => {
  // Pieces of JPEGs, whole JPEGs, garbage (FF D8 allowed here) and flipped bytes.
  const piece = fc.oneof(
    anyJpeg,
    fc.tuple(anyJpeg, fc.nat(), fc.nat()).map(([jpeg, a, b]) => jpeg.subarray(Math.min(a, b) % jpeg.length, Math.max(a, b) % jpeg.length)),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  );
  const damage = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 });
  fc.assert(
    fc.property(fc.array(piece, { minLength: 1, maxLength: 8 }), damage, chunking, fc.integer({ min: 4, max: 8192 }), (pieces, flips, chunks, maxFrameBytes) => {
      const stream = Buffer.concat(pieces);
      for (const [at, value] of flips) if (stream.length > 0) stream[at % stream.length] = value;
      // Zeros past the limit end whatever frame is in progress (corrupt, or oversize in
      // a segment or scan), so afterwards every byte has been classified.
      const flush = Buffer.alloc(maxFrameBytes + 2);
      const h = harness({ maxFrameBytes });
      feedMixed(h.framer, stream, chunks);
      h.framer.push(flush);

      const emitted = h.jpegs();
      let cursor = 0;
      for (const jpeg of emitted) {
        assert.ok(jpeg.length >= 4 && jpeg.length <= maxFrameBytes);
        assert.deepEqual([jpeg.subarray(0, 2), jpeg.subarray(-2)], [SOI, EOI]);
        const at = stream.indexOf(jpeg, cursor);
        assert.ok(at >= cursor, 'each frame is the next part of the input');
        cursor = at + jpeg.length;
      }
      const stats = h.framer.stats;
      const emittedBytes = emitted.reduce((sum, jpeg) => sum + jpeg.length, 0);
      const discardedBytes = h.discards.reduce((sum, discard) => sum + discard.bytes, 0);
      assert.equal(emittedBytes + discardedBytes + stats.bytesSkipped, stream.length + flush.length);
      assert.equal(stats.frames, emitted.length);
      for (const reason of ['truncated', 'oversize', 'corrupt'] as const) {
        assert.equal(stats[reason], h.discards.filter((discard) => discard.reason === reason).length);
      }
      assert.equal(h.pool.stats().inUse, emitted.length);
      h.releaseAll();
      assert.equal(h.pool.stats().inUse, 0);
    }),
    { numRuns: 200 },
  );
});
