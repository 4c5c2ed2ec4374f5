/**
 * The slow-viewer part of docs/BENCHMARKS.md: its figures, table and explanation.
 */
import { cpus } from 'node:os';
import { DEFAULT_LADDER, DEFAULT_PROFILES, ladderFor } from '../src/stream/profile.js';
import { f } from './format.js';

/** Where one slow viewer ended the window on the adaptation ladder (from /api/stats). */
export interface SlowViewerLevel {
  level: number;
  maxFps: number | null;
  profile: string;
  /** Lowest and highest level it was at during the window, and how many times it moved. */
  minLevel: number;
  maxLevel: number;
  changes: number;
  /** The level it spent the most time at during the window, and the share of the window it spent there. */
  mainLevel: number;
  mainShare: number;
}

/** One slow-viewer scenario: fast viewers and slow ones on the same server. */
export interface SlowScenarioFigures {
  name: string;
  /** Server CPU over the window, % of one core (includes re-encoding for adapted viewers). */
  cpu: { total: number; user: number; system: number };
  captureFps: number;
  fast: {
    viewers: number;
    fps: { min: number; median: number };
    /** Server-counted drops of the fast viewers (their viewerList entries), and sequence gaps they saw. */
    drops: { server: number; clientGaps: number };
    latencyMs: { p50: number; p99: number; max: number };
    failed: number;
  };
  slow: {
    viewers: number;
    /** Per slow viewer: parts received per second, and MB (10^6 bytes) read per second. */
    fps: number[];
    megabytesPerSecond: number[];
    levels: SlowViewerLevel[];
    latencyMs: { p50: number; p99: number; max: number };
    /** Server-counted drops of the slow viewers over the window, by reason. */
    drops: { replaced: number; adapted: number; encoder_busy: number };
    failed: number;
  };
}

export interface SlowRunInfo {
  warmupSeconds: number;
  seconds: number;
  fastAgent: string;
  slowAgent: string;
  /** The paced reader's rate (bytes/s), burst (ms) and SO_RCVBUF (bytes). */
  pacedRate: number;
  pacedBurstMs: number;
  pacedRcvbuf: number;
  /** The link as planned, e.g. "netem delay 20ms loss 0.1% and a tbf rate 16mbit …", and its delay. */
  linkPlan: string;
  plannedDelay: string;
  /** The link scenario's tc commands, when it ran. */
  link: { shapedWith: string; netem: boolean } | undefined;
  /** Scenarios that did not run, and why. */
  skipped: { name: string; reason: string }[];
}

const levelName = (level: { level: number; maxFps: number | null; profile: string }): string =>
  `L${level.level} ${level.profile} ${level.maxFps === null ? 'full rate' : `≤${level.maxFps} fps`}`;

export function slowViewersTable(rows: readonly SlowScenarioFigures[]): string {
  const header = [
    'Scenario',
    'Server CPU % (user / sys)',
    'Capture fps',
    'Fast fps min / median',
    'Fast drops server / client gaps',
    'Fast latency ms p50 / p99',
    'Slow fps, each',
    'Slow MB/s, each',
    'Slow level at end (range and moves in window)',
    'Slow latency ms p50 / p99',
    'Slow drops replaced / adapted / encoder busy',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|---|${header.slice(1).map(() => '---:').join('|')}|`];
  for (const r of rows) {
    const failed = r.fast.failed + r.slow.failed;
    const name = failed > 0 ? `${r.name} (${failed} viewers failed)` : r.name;
    const levels = r.slow.levels
      .map((l) => `${levelName(l)}${l.changes === 0 ? '' : ` (L${l.minLevel}–${l.maxLevel}, ${l.changes} ${l.changes === 1 ? 'move' : 'moves'}; L${l.mainLevel} ${f(l.mainShare * 100, 0)} % of the time)`}`)
      .join('; ');
    lines.push(
      `| ${[
        name,
        `${f(r.cpu.total)} (${f(r.cpu.user)} / ${f(r.cpu.system)})`,
        f(r.captureFps),
        `${f(r.fast.fps.min)} / ${f(r.fast.fps.median)}`,
        `${r.fast.drops.server} / ${r.fast.drops.clientGaps}`,
        `${f(r.fast.latencyMs.p50, 2)} / ${f(r.fast.latencyMs.p99, 2)}`,
        r.slow.fps.map((v) => f(v)).join(', '),
        r.slow.megabytesPerSecond.map((v) => f(v, 2)).join(', '),
        levels,
        `${f(r.slow.latencyMs.p50, 0)} / ${f(r.slow.latencyMs.p99, 0)}`,
        `${r.slow.drops.replaced} / ${r.slow.drops.adapted} / ${r.slow.drops.encoder_busy}`,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The default ladder for a 60 fps camera, as the doc shows it. */
function ladderDescription(): string {
  return ladderFor(60, DEFAULT_LADDER)
    .map((level, index) => {
      const profile = DEFAULT_PROFILES[level.profile];
      const what = profile === undefined ? 'the source JPEGs' : `${level.profile} (${profile.scale === 1 ? 'full size' : `${profile.scale} × size`}, quality ${profile.quality})`;
      return `L${index} ${what} at ${level.maxFps === undefined ? 'full rate' : `≤${level.maxFps} fps`}`;
    })
    .join(', ');
}

export function slowViewersSection(rows: readonly SlowScenarioFigures[], run: SlowRunInfo, source: string): string {
  const skipped = run.skipped.map((s) => `- Not run: ${s.name}: ${s.reason}.`).join('\n');
  const table = rows.length > 0 ? slowViewersTable(rows) : '_No slow-viewer scenario ran._';
  let applied: string;
  if (run.link === undefined) applied = 'It did not run on this machine (see above).';
  else {
    applied = `Here it ran with:\n\n${run.link.shapedWith
      .split('; ')
      .map((command) => `      ${command}`)
      .join('\n')}\n`;
    if (!run.link.netem) {
      applied +=
        '\n  This kernel has no sch_netem (CONFIG_NET_SCH_NETEM unset), so that link has\n' +
        '  the rate and the loss (a classic-BPF filter sends a random share of packets\n' +
        `  to a class that holds none) but **not the ${run.plannedDelay} delay**.\n`;
    }
  }
  return `## Slow viewers

${table}
${skipped === '' ? '' : `\n${skipped}\n`}
### How to read it

Each row is one scenario of 10 viewers of the same \`${source}\` camera: 8 fast
viewers (User-Agent \`${run.fastAgent}\`, reading everything on loopback) and 2 slow
ones (\`${run.slowAgent}\`, so the bench finds their entries in \`/api/stats\`), each
group in its own load generator process. The question is whether camstream serves the
slow viewers something watchable without costing the fast ones anything. Each
scenario has ${run.warmupSeconds} s of warm-up, so the slow viewers' adaptation has settled,
then ${run.seconds} s measured.

- **Paced reader**: the slow generator reads each socket at most ${run.pacedRate / 1e6} MB/s,
  pausing the socket whenever it is ahead (with at most ${run.pacedBurstMs} ms of credit: a link
  cannot catch up for having idled), its receive buffer fixed at SO_RCVBUF
  ${run.pacedRcvbuf / 1024} KiB (the kernel doubles it). Left auto-tuned, the client's own kernel
  buffer grows to megabytes and hides backlog that a real ${run.pacedRate / 1e6} MB/s link cannot
  hold. Each slow viewer has ${run.pacedRate / 1e6} MB/s to itself.
- **Link**: the slow generator runs inside a network namespace behind a veth
  pair (10.214.<n>.1/30 on the host side, .2 in the namespace, <n> from the PID)
  and reads everything. The host side's egress (server → slow viewers) is shaped
  with ${run.linkPlan}, so the **two slow viewers share one
  ${run.pacedRate / 1e6} MB/s link**, as two viewers behind one home connection would. The
  server listens on the veth's host address; the fast viewers connect to that
  address too, which the kernel delivers over lo, not through the veth. This
  scenario needs root and iproute2 (\`ip\`, \`tc\`); without them the bench prints
  why it skipped it. ${applied}
- Fast columns: fps min / median over the 8 fast viewers; drops are the sum of the
  fast viewers' own \`drops.total\` in \`viewerList\` over the window and **must be
  0** (a slow viewer must cost the others nothing), beside the sequence gaps they
  saw; latency p50 / p99 as in the table above.
- Slow fps and MB/s: parts (and bytes) each slow viewer received per second over the
  window, client side.
- Slow level: each slow viewer's adaptation level, profile and frame-rate cap from
  \`/api/stats\` at the end of the window; in brackets, when it moved during the
  window, the range of levels it was at, how many moves the server logged
  ("viewer adapted"), and the level it spent most of the window at (the level at
  the end may be a short try of the rung above). The default ladder:
  ${ladderDescription()}. A viewer that sits between
  two rungs steps up now and then to try the better one, and back down when it does
  not fit (waiting twice as long before each further try); those tries show up as a
  range here and in the slow latency p99.
- Slow latency p50 / p99: capture (\`X-Timestamp\`) to the arrival of each part's last
  byte at a slow viewer, over both slow viewers. On the link it includes the time
  parts wait in the link's queue: camstream bounds what waits unsent in its own
  kernel send queue (TCP_NOTSENT_LOWAT), but not what TCP already has in flight,
  and on a link whose queue is deep (tbf \`latency\`, the bench's \`--link-queue\`)
  TCP's window fills it. The server's own lag (capture to the kernel accepting a
  write), which drives the adaptation, does not see that wait. The paced reader has
  no such queue: what it has in flight is bounded by its receive buffer.
- Slow drops, from the server's per-viewer counters: \`replaced\` — the viewer fell
  behind and a newer frame replaced one waiting for it; \`adapted\` — frames skipped
  to keep to the level's frame-rate cap while the viewer watched the source's own
  frames (a re-encoded profile is encoded only at its viewers' rate, so its skipped
  frames are not counted); \`encoder busy\` — the profile's encoder was still
  encoding an earlier frame.
- Server CPU includes re-encoding the slow viewers' profiles (sharp, on libuv's
  thread pool), which the loopback table above never needs. Capture fps is the
  camera's, over the window: below 60, the camera's own frame clock fell behind on
  a machine whose ${cpus().length} cores also run the re-encoding and both load generators,
  and the fast viewers get fewer frames without a single drop.
`;
}

