import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RenderOptions } from './synthetic-frames.js';

const CHILD = fileURLToPath(new URL('./synthetic-render-child.js', import.meta.url));

/**
 * Renders the synthetic ring in a child process (see synthetic-render-child.ts for
 * why). The child writes each JPEG behind its 4-byte length to a file in a fresh
 * temporary folder; this process then reads each one straight into memory from
 * `store` (by default a buffer of its own) and removes the folder. Reading from a
 * pipe instead would leave ~8 MB of 64 KiB chunks (at 1080p) for the GC, which a
 * server allocating almost nothing per frame may not collect for seconds.
 */
export function renderRingInChild(options: RenderOptions, store: (length: number) => Buffer = Buffer.allocUnsafeSlow): Promise<Buffer[]> {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-ring-'));
  const file = join(dir, 'ring');
  return new Promise<Buffer[]>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options), file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`the render child exited with code ${code}: ${childReason(stderr)}`));
        return;
      }
      try {
        const frames = readRing(file, store);
        if (frames.length !== options.count) throw new Error(`the render child wrote ${frames.length} of ${options.count} frames`);
        resolve(frames);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/**
 * The line of the child's stderr that says what went wrong: its uncaught error
 * ("Error: Expected valid width…"), not the "Node.js v20…" line Node prints last.
 */
function childReason(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((line) => /^[A-Za-z]*Error\b/.test(line))?.trim() ?? lines.at(-1) ?? '';
}

/** The ring file's JPEGs, each read into its own `store` buffer. */
function readRing(file: string, store: (length: number) => Buffer): Buffer[] {
  const fd = openSync(file, 'r');
  try {
    const frames: Buffer[] = [];
    const length = Buffer.alloc(4);
    for (let position = 0; readSync(fd, length, 0, 4, position) === 4; ) {
      const target = store(length.readUInt32BE(0));
      if (readSync(fd, target, 0, target.length, position + 4) !== target.length) throw new Error('the synthetic ring file ends inside a frame');
      frames.push(target);
      position += 4 + target.length;
    }
    return frames;
  } finally {
    closeSync(fd);
  }
}
