import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RenderOptions } from './synthetic-frames.js';

const CHILD = fileURLToPath(new URL('./synthetic-render-child.js', import.meta.url));

/** Renders the synthetic ring in a child process (see synthetic-render-child.ts for why). */
export function renderRingInChild(options: RenderOptions): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`rendering the synthetic frames failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
        return;
      }
      // Once, at start: the ring lives in this one buffer; frames are views of it.
      const output = Buffer.concat(chunks);
      const frames: Buffer[] = [];
      for (let offset = 0; offset + 4 <= output.length; ) {
        const length = output.readUInt32BE(offset);
        frames.push(output.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
      }
      if (frames.length !== options.count) {
        reject(new Error(`rendering the synthetic frames produced ${frames.length} of ${options.count} frames`));
        return;
      }
      resolve(frames);
    });
  });
}
