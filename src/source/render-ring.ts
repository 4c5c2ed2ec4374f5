import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RenderOptions } from './synthetic-frames.js';

const CHILD = fileURLToPath(new URL('./synthetic-render-child.js', import.meta.url));

/**
 * Renders the synthetic ring in a child process (see synthetic-render-child.ts for
 * why). The child prints each JPEG behind its 4-byte length; each is copied as it
 * arrives into memory from `store` (by default a buffer of its own), so no chunk of
 * the output outlives its 'data' event: chunks kept until the end would survive
 * into V8's old generation and hold megabytes of RSS until a full GC, which a
 * server allocating almost nothing may not run for a long time.
 */
export function renderRingInChild(options: RenderOptions, store: (length: number) => Buffer = Buffer.allocUnsafeSlow): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const frames: Buffer[] = [];
    const lengthBytes = Buffer.alloc(4);
    let lengthFilled = 0;
    let target: Buffer | undefined;
    let filled = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (let offset = 0; offset < chunk.length; ) {
        if (target === undefined) {
          const take = Math.min(4 - lengthFilled, chunk.length - offset);
          chunk.copy(lengthBytes, lengthFilled, offset, offset + take);
          lengthFilled += take;
          offset += take;
          if (lengthFilled === 4) {
            target = store(lengthBytes.readUInt32BE(0));
            filled = 0;
            lengthFilled = 0;
          }
          continue;
        }
        const take = Math.min(target.length - filled, chunk.length - offset);
        chunk.copy(target, filled, offset, offset + take);
        filled += take;
        offset += take;
        if (filled === target.length) {
          frames.push(target);
          target = undefined;
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`rendering the synthetic frames failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
        return;
      }
      if (frames.length !== options.count || target !== undefined) {
        reject(new Error(`rendering the synthetic frames produced ${frames.length} of ${options.count} frames`));
        return;
      }
      resolve(frames);
    });
  });
}
