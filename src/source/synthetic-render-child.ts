/**
 * Renders the synthetic camera's ring in a short-lived child process.
 *
 * libvips (inside sharp) keeps its thread pool, caches and malloc arenas for the
 * life of a process: rendering thirty 1080p frames in the server itself left it at
 * ~250 MB RSS for good. In a child process that memory goes away when the child
 * exits, and the server never loads libvips at all.
 *
 * Protocol: argv[2] is the JSON RenderOptions; stdout carries each JPEG as a 4-byte
 * big-endian length followed by its bytes.
 */
import { renderSyntheticFrames, type RenderOptions } from './synthetic-frames.js';

const options = JSON.parse(process.argv[2] ?? '{}') as RenderOptions;
const frames = await renderSyntheticFrames(options);
for (const jpeg of frames) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(jpeg.length);
  process.stdout.write(length);
  process.stdout.write(jpeg);
}
