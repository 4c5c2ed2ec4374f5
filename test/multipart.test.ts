import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BOUNDARY, BufferPool, Frame, FrameFactory, formatTimestamp, HEADER_SPACE, PART_TRAILER } from '../src/frame/index.js';

const jpeg = Buffer.from([0xff, 0xd8, 1, 2, 3, 4, 5, 0xff, 0xd9]);

test('formatTimestamp writes seconds and six-digit microseconds', () => {
  assert.equal(formatTimestamp(1_700_000_000_000_042), '1700000000.000042');
  assert.equal(formatTimestamp(5_123_456), '5.123456');
  assert.equal(formatTimestamp(0), '0.000000');
});

test('a frame part is exactly header, JPEG and the next boundary, in one slice', () => {
  const factory = new FrameFactory(new BufferPool());
  const frame = factory.fromJpeg(jpeg, { monoMs: 10, wallMicros: 1_732_500_000_123_456 });
  const expectedHeader =
    'Content-Type: image/jpeg\r\n' + 'Content-Length: 9\r\n' + 'X-Timestamp: 1732500000.123456\r\n' + 'X-Frame-Sequence: 1\r\n' + '\r\n';
  const expected = Buffer.concat([Buffer.from(expectedHeader, 'latin1'), jpeg, Buffer.from(`\r\n--${BOUNDARY}\r\n`, 'latin1')]);
  assert.deepEqual(frame.part, expected);
  assert.deepEqual(frame.jpeg, jpeg);
  // Views of the pooled memory, not copies.
  assert.equal(frame.part.buffer, frame.jpeg.buffer);
  assert.equal(frame.jpeg.byteOffset - frame.part.byteOffset, expectedHeader.length);
  frame.release();
});

test('a part parses back to the original JPEG and its headers', () => {
  const factory = new FrameFactory(new BufferPool());
  const body = Buffer.alloc(300_000, 0x5a);
  body[0] = 0xff;
  body[1] = 0xd8;
  const frame = factory.fromJpeg(body);
  const text = frame.part.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const headers = Object.fromEntries(
    text
      .slice(0, headerEnd)
      .split('\r\n')
      .map((line) => line.split(': ') as [string, string]),
  );
  assert.equal(headers['Content-Type'], 'image/jpeg');
  const length = Number(headers['Content-Length']);
  assert.equal(length, body.length);
  assert.equal(Number(headers['X-Frame-Sequence']), frame.sequence);
  assert.match(headers['X-Timestamp'] as string, /^\d+\.\d{6}$/);
  const parsed = frame.part.subarray(headerEnd + 4, headerEnd + 4 + length);
  assert.ok(parsed.equals(body));
  assert.deepEqual(frame.part.subarray(headerEnd + 4 + length), PART_TRAILER);
  frame.release();
});

test('sequence numbers increase per factory, and the buffer returns to the pool on the last release', () => {
  const pool = new BufferPool();
  const factory = new FrameFactory(pool);
  const a = factory.fromJpeg(jpeg);
  const b = factory.fromJpeg(jpeg);
  assert.deepEqual([a.sequence, b.sequence], [1, 2]);
  a.retain();
  a.release();
  assert.equal(pool.stats().inUse, 2);
  a.release();
  b.release();
  assert.equal(pool.stats().inUse, 0);
});

test('a buffer too small for the JPEG and its framing is refused', () => {
  const pool = new BufferPool();
  const buffer = pool.acquire(100);
  assert.throws(() => new Frame(buffer, buffer.bytes.length - HEADER_SPACE, 1, { monoMs: 0, wallMicros: 0 }), /needs/);
  buffer.release();
});
