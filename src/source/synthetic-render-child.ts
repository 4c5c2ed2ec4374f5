/**
 * Renders the synthetic camera's ring in a short-lived child process.
 *
 * libvips (inside sharp) keeps its thread pool, caches and malloc arenas for the
 * life of a process: rendering thirty 1080p frames in the server itself left it at
 * ~250 MB RSS for good. In a child process that memory goes away when the child
 * exits, and the server never loads libvips at all.
 *
 * Protocol: argv[2] is the JSON RenderOptions, argv[3] the file to write: each
 * JPEG as a 4-byte big-endian length followed by its bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { renderSyntheticFrames, type RenderOptions } from './synthetic-frames.js';

const options = JSON.parse(process.argv[2] ?? '{}') as RenderOptions;
const file = process.argv[3];
if (file === undefined) throw new Error('usage: synthetic-render-child.js <options json> <output file>');
const frames = await renderSyntheticFrames(options);
const fd = openSync(file, 'w');
for (const jpeg of frames) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(jpeg.length);
  writeSync(fd, length);
  writeSync(fd, jpeg);
}
closeSync(fd);
