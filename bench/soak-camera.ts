/**
 * The soak's flaky camera, run by the server as an `exec:` source: prints a ring of
 * JPEGs (a file of 4-byte big-endian lengths, each followed by its JPEG) as MJPEG
 * on stdout at `--fps`, and after `--live` seconds fails. Its runs alternate between
 * the two ways a real camera process fails: odd runs exit with status 1 (the
 * supervisor sees the exit), even runs stop printing but stay alive (the
 * supervisor's stall timeout must notice and kill it). The run number is kept in
 * `--state`, so restarts by the server continue the alternation.
 *
 *   node dist/bench/soak-camera.js --ring FILE --state FILE [--fps 30] [--live 11]
 *
 * It exits by itself when orphaned (its server gone), so a killed server never
 * leaves it behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    ring: { type: 'string' },
    state: { type: 'string' },
    fps: { type: 'string', default: '30' },
    live: { type: 'string', default: '11' },
  },
});
if (values.ring === undefined || values.state === undefined) {
  process.stderr.write('usage: soak-camera.js --ring FILE --state FILE [--fps 30] [--live 11]\n');
  process.exit(2);
}

const fps = Number(values.fps);
const liveMs = Number(values.live) * 1000;
const ringFile = readFileSync(values.ring);
const ring: Buffer[] = [];
for (let offset = 0; offset + 4 <= ringFile.length; ) {
  const length = ringFile.readUInt32BE(offset);
  ring.push(ringFile.subarray(offset + 4, offset + 4 + length));
  offset += 4 + length;
}

let run = 0;
try {
  run = Number(readFileSync(values.state, 'utf8')) || 0;
} catch {
  // first run
}
run++;
writeFileSync(values.state, String(run));

const parent = process.ppid;
// Orphaned (re-parented) means the server is gone: nobody will stop us.
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
process.stdout.on('error', () => process.exit(0));

const startMs = performance.now();
let index = 0;
let next = startMs;
const timer = setInterval(() => {
  const now = performance.now();
  if (now - startMs >= liveMs) {
    clearInterval(timer);
    if (run % 2 === 1) {
      process.stderr.write(`soak camera: run ${run} exits as planned\n`);
      process.exit(1);
    }
    // Even runs hang silently until the supervisor's stall timeout kills them.
    setInterval(() => {}, 60_000);
    return;
  }
  // Drift-free: write every frame whose time has come (at most a few after a late tick).
  for (let written = 0; next <= now && written < 3; written++) {
    process.stdout.write(ring[index] as Buffer);
    index = (index + 1) % ring.length;
    next += 1000 / fps;
  }
  if (next <= now) next = now;
}, Math.max(1, Math.floor(1000 / fps / 2)));
