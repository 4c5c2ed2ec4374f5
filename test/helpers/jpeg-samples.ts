import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

/**
 * Real JPEGs for the framer's tests, made with sharp (and ffmpeg for restart
 * markers, which sharp cannot write), plus the two structures cameras produce that
 * naive framers get wrong: an EXIF APP1 carrying a whole thumbnail JPEG, and FF
 * fill bytes before a marker. Every crafted sample is checked to decode with sharp,
 * so the tests exercise valid JPEGs rather than the framer's own idea of one.
 */

/** Deterministic pseudo-random bytes (mulberry32), so samples are the same on every run. */
export function noise(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

export interface EncodeOptions {
  width: number;
  height: number;
  seed: number;
  quality?: number;
  progressive?: boolean;
}

/** A noisy picture (noise gives plenty of FF 00 stuffing in the entropy data) as a JPEG. */
export async function encodeJpeg(options: EncodeOptions): Promise<Buffer> {
  const { width, height, seed } = options;
  // Smooth gradient plus noise, so quality settings change the size like a real picture.
  const pixels = noise(width * height * 3, seed);
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((pixels[i] as number) >> 2) + ((i * 7) % 192);
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: options.quality ?? 80, progressive: options.progressive ?? false })
    .toBuffer();
}

/** Marker positions of a JPEG's top-level structure (segments, not entropy data), for assertions. */
export function markerCodes(jpeg: Uint8Array): number[] {
  const codes: number[] = [];
  for (let i = 0; i + 1 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] !== 0x00 && jpeg[i + 1] !== 0xff) codes.push(jpeg[i + 1] as number);
  }
  return codes;
}

/**
 * Inserts an EXIF APP1 segment right after SOI whose IFD1 points at a whole
 * thumbnail JPEG, as cameras write it. The thumbnail's own FF D8 … FF D9 sits inside
 * the segment, where a framer that searches for FF D9 ends the frame too early.
 */
export function withExifThumbnail(jpeg: Buffer, thumbnail: Buffer): Buffer {
  const ifd1Offset = 8 + 2 + 4; // after the TIFF header and an empty IFD0
  const ifd1Entries = 3;
  const thumbnailOffset = ifd1Offset + 2 + 12 * ifd1Entries + 4;
  const tiff = Buffer.alloc(thumbnailOffset + thumbnail.length);
  tiff.write('II', 0, 'latin1'); // little endian
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4); // IFD0 offset
  tiff.writeUInt16LE(0, 8); // IFD0: no entries
  tiff.writeUInt32LE(ifd1Offset, 10); // next IFD: IFD1, the thumbnail's
  tiff.writeUInt16LE(ifd1Entries, ifd1Offset);
  const entry = (index: number, tag: number, type: number, value: number): void => {
    const at = ifd1Offset + 2 + 12 * index;
    tiff.writeUInt16LE(tag, at);
    tiff.writeUInt16LE(type, at + 2);
    tiff.writeUInt32LE(1, at + 4);
    if (type === 3) tiff.writeUInt16LE(value, at + 8);
    else tiff.writeUInt32LE(value, at + 8);
  };
  entry(0, 0x0103, 3, 6); // Compression: JPEG
  entry(1, 0x0201, 4, thumbnailOffset); // JPEGInterchangeFormat
  entry(2, 0x0202, 4, thumbnail.length); // JPEGInterchangeFormatLength
  tiff.writeUInt32LE(0, ifd1Offset + 2 + 12 * ifd1Entries); // no further IFD
  thumbnail.copy(tiff, thumbnailOffset);

  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, payload, jpeg.subarray(2)]);
}

/** Inserts `count` FF fill bytes before the marker of the segment that follows the first one. */
export function withFillBytes(jpeg: Buffer, count: number): Buffer {
  const firstLength = jpeg.readUInt16BE(4);
  const at = 4 + firstLength; // SOI (2) + marker (2) + the first segment's length-counted bytes
  if (jpeg[at] !== 0xff) throw new Error('sample does not start with a length-bearing segment');
  return Buffer.concat([jpeg.subarray(0, at), Buffer.alloc(count, 0xff), jpeg.subarray(at)]);
}

/** Resolves if sharp decodes the whole JPEG, so crafted samples are known to be valid. */
export async function assertDecodes(jpeg: Buffer): Promise<void> {
  await sharp(jpeg, { failOn: 'warning' }).raw().toBuffer();
}

/**
 * ffmpeg's MJPEG encoder with slice threads writes a DRI segment and RST0–7 markers
 * between slices: real restart intervals, which sharp cannot produce.
 */
export function ffmpegMjpegArgs(frames: number, output: string[]): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10',
    '-frames:v', String(frames),
    '-c:v', 'mjpeg', '-q:v', '3', '-threads', '4', '-thread_type', 'slice', '-slices', '4',
    ...output,
  ];
}

/** `frames` JPEGs with restart markers from ffmpeg, as separate files (so independent of any framer). */
export async function ffmpegJpegs(frames: number): Promise<Buffer[]> {
  const dir = await mkdtemp(join(tmpdir(), 'camstream-jpeg-'));
  try {
    await promisify(execFile)('ffmpeg', ffmpegMjpegArgs(frames, ['-f', 'image2', join(dir, '%03d.jpg')]));
    const names = (await readdir(dir)).sort();
    return await Promise.all(names.map((name) => readFile(join(dir, name))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface JpegSamples {
  /** A few hundred bytes of headers around a tiny picture. */
  tiny: Buffer;
  baseline: Buffer;
  /** Over the buffer the framer takes for a first frame (64 KiB, rounded up to an 80 KiB class), so it regrows on first sight. */
  large: Buffer;
  /** Several SOS scans with DHT segments between them. */
  progressive: Buffer;
  /** An EXIF APP1 embedding a whole thumbnail JPEG (FF D8 … FF D9 inside the segment). */
  exifThumbnail: Buffer;
  /** FF fill bytes before a marker. */
  fillBytes: Buffer;
}

export async function makeJpegSamples(): Promise<JpegSamples> {
  const [tiny, baseline, large, progressive, thumbnail] = await Promise.all([
    encodeJpeg({ width: 8, height: 8, seed: 1 }),
    encodeJpeg({ width: 64, height: 48, seed: 2 }),
    encodeJpeg({ width: 512, height: 320, seed: 3, quality: 95 }),
    encodeJpeg({ width: 96, height: 64, seed: 4, progressive: true }),
    encodeJpeg({ width: 16, height: 12, seed: 5, quality: 60 }),
  ]);
  const exifThumbnail = withExifThumbnail(baseline, thumbnail);
  const fillBytes = withFillBytes(baseline, 3);
  await Promise.all([assertDecodes(exifThumbnail), assertDecodes(fillBytes)]);
  return { tiny, baseline, large, progressive, exifThumbnail, fillBytes };
}
