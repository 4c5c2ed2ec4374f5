/**
 * The "Slow viewers" section of docs/BENCHMARKS.md: issue #14's targets, the two
 * tables of report-slow.ts, and how to read them.
 */
import { cpus } from 'node:os';
import { DEFAULT_LADDER, DEFAULT_PROFILES, ladderFor } from '../src/stream/profile.js';
import { slowCostTable, slowViewersTable, type SlowRunInfo, type SlowScenarioFigures } from './report-slow.js';
import { slowTargetsTable } from './report-slow-targets.js';
import { RSS_INTERVAL_MS } from './measure.js';
import { HD1080, PI_CAMERA, PI_FAST_VIEWERS, PI_SLOW_VIEWERS } from './slow-plan.js';

/** The default ladder for a camera of `fps`, as the doc shows it. */
function ladderDescription(fps: number): string {
  return ladderFor(fps, DEFAULT_LADDER)
    .map((level, index) => {
      const profile = DEFAULT_PROFILES[level.profile];
      const what = profile === undefined ? 'the source JPEGs' : `${level.profile} (${profile.scale === 1 ? 'full size' : `${profile.scale} × size`}, quality ${profile.quality})`;
      return `L${index} ${what} at ${level.maxFps === undefined ? 'full rate' : `≤${level.maxFps} fps`}`;
    })
    .join(', ');
}

/** The link's tc commands as run, or why it did not run. */
function linkApplied(run: SlowRunInfo): string {
  if (run.link === undefined) return 'It did not run on this machine (see above).';
  let applied = `Here it ran with:\n\n${run.link.shapedWith
    .split('; ')
    .map((command) => `      ${command}`)
    .join('\n')}\n`;
  if (!run.link.netem) {
    applied +=
      '\n  This kernel has no sch_netem (CONFIG_NET_SCH_NETEM unset), so that link has\n' +
      '  the rate and the loss (a classic-BPF filter sends a random share of packets\n' +
      `  to a class that holds none) but **not the ${run.plannedDelay} delay**.\n`;
  }
  return applied;
}

export function slowViewersSection(rows: readonly SlowScenarioFigures[], run: SlowRunInfo): string {
  const skipped = run.skipped.map((s) => `- Not run: ${s.name}: ${s.reason}.`).join('\n');
  const tables =
    rows.length === 0
      ? '_No slow-viewer scenario ran._'
      : `${slowTargetsTable(rows)}\n\nWhat the viewers got:\n\n${slowViewersTable(rows)}\n\nWhat it cost the server:\n\n${slowCostTable(rows)}`;
  return `## Slow viewers

${tables}
${skipped === '' ? '' : `\n${skipped}\n`}
### How to read it

Each row is one scenario on a fresh camstream with one camera. The \`${HD1080.source}\`
rows have 10 viewers: 8 fast (User-Agent \`${run.fastAgent}\`, reading everything on
loopback) and 2 slow (\`${run.slowAgent}\`, so the bench finds their entries in
\`/api/stats\`), each group in its own load generator process. The question is whether
camstream serves the slow viewers something watchable without costing the fast ones
anything, and at what cost to the server. Each scenario has ${run.warmupSeconds} s of warm-up, so the
slow viewers' adaptation has settled, then ${run.seconds} s measured.

- **Started as plain \`node\`**: every server here runs as \`node dist/src/cli/main.js\`,
  without the environment and node flags of camstream's executable (its shebang) and
  without the bench's alloc probe, as a systemd unit running node, a library user or
  the tests start it; the bench also keeps \`NODE_OPTIONS\`, \`MALLOC_ARENA_MAX\`,
  \`GLIBC_TUNABLES\` and \`UV_THREADPOOL_SIZE\` of its own environment from it. The
  loopback tables above run the executable's way.
- **None slow**: the same camera and the same two generators, the "slow" one reading
  at full speed. It is the denominator of **CPU × none slow**, measured in the same
  run, so a busier or quieter machine moves both alike. Its slow columns are those
  two viewers at full speed.
- **Paced reader**: the slow generator reads each socket at most ${run.pacedRate / 1e6} MB/s in
  small steps, pausing the socket whenever it is ahead (with at most ${run.pacedBurstMs} ms of credit: a link
  cannot catch up for having idled), its receive buffer fixed at SO_RCVBUF
  ${run.pacedRcvbuf / 1024} KiB (the kernel doubles it), about what a ${run.pacedRate / 1e6} MB/s link holds
  in flight. Each slow viewer has ${run.pacedRate / 1e6} MB/s to itself.
- **Busy-tab reader**: the slow generator reads like a busy browser tab that gets to
  its socket now and then: every ${run.busyTabPeriodMs} ms it reads up to ${run.pacedRate / 1e6} MB/s × ${run.busyTabPeriodMs} ms
  (${(run.pacedRate * run.busyTabPeriodMs) / 1e6 / 1000} MB) in one burst, then nothing until the next period, its receive
  buffer left to the OS. Those bursts make Linux's auto-tuning grow the buffer toward
  \`tcp_rmem\`'s maximum (megabytes), where a backlog hides from the server: its writes
  keep completing while seconds of video wait in the viewer's kernel. (A link's
  receiver holds only about its bandwidth × delay, which is why the paced reader
  fixes its buffer; its small steady reads would not grow it much anyway.)
- **Link**: the slow generator runs inside a network namespace behind a veth
  pair (10.214.<n>.1/30 on the host side, .2 in the namespace, <n> from the PID)
  and reads everything. The host side's egress (server → slow viewers) is shaped
  with ${run.linkPlan}, so the **two slow viewers share one
  ${run.pacedRate / 1e6} MB/s link**, as two viewers behind one home connection would. The
  server listens on the veth's host address; the fast viewers connect to that
  address too, which the kernel delivers over lo, not through the veth. This
  scenario needs root and iproute2 (\`ip\`, \`tc\`); without them the bench prints
  why it skipped it. ${linkApplied(run)}
- **Raspberry Pi setting**: a \`${PI_CAMERA.source}\` camera (~100 KB frames, so the stream
  needs ~3 MB/s), ${PI_FAST_VIEWERS} fast viewers and ${PI_SLOW_VIEWERS} busy-tab reader at ${run.piRate / 1e6} MB/s, beside its
  own none-slow row. It is measured on this machine, not on a Pi: read its CPU as
  a share of what this machine's cores do, and compare it with its none-slow row.
- Targets: issue #14's, judged on the ${HD1080.label} slow mixes only; "met" only if every
  row it applies to meets it.
- Fast columns: fps min / median over the fast viewers; drops are the sum of the
  fast viewers' own \`drops.total\` in \`viewerList\` over the window and **must be
  0** (a slow viewer must cost the others nothing), beside the sequence gaps they
  saw; latency p50 / p99 as in the loopback tables above.
- Slow fps and MB/s: parts (and bytes) each slow viewer received per second over the
  window, client side.
- Slow level: each slow viewer's adaptation level, profile and frame-rate cap from
  \`/api/stats\` at the end of the window; in brackets, when it moved during the
  window, the range of levels it was at, how many moves the server logged
  ("viewer adapted"), and the level it spent most of the window at (the level at
  the end may be a short try of the rung above). The default ladder at 60 fps:
  ${ladderDescription(60)}; at 30 fps: ${ladderDescription(30)}. A viewer that sits between
  two rungs steps up now and then to try the better one, and back down when it does
  not fit; those tries show up as a range here and in the slow latency p99.
- Slow latency p50 / p99: capture (\`X-Timestamp\`) to the arrival of each part's last
  byte at a slow viewer, over the slow viewers. On the link it includes the time
  parts wait in the link's queue, and for the busy tab the time they wait in its
  receive buffer: camstream bounds what waits unsent in its own kernel send queue
  (TCP_NOTSENT_LOWAT), but not what TCP already has in flight or the receiver holds.
- Slow drops, from the server's per-viewer counters: \`replaced\` — the viewer fell
  behind and a newer frame replaced one waiting for it; \`adapted\` — frames skipped
  to keep to the level's frame-rate cap while the viewer watched the source's own
  frames (a re-encoded profile is encoded only at its viewers' rate, so its skipped
  frames are not counted); \`encoder busy\` — the profile's encoder was still
  encoding an earlier frame; \`draining\` — the viewer's reader held a backlog of
  unread frames, and nothing was sent until it read them (– where this server build
  does not count it).
- Server CPU: \`/proc\` of the server over the window, % of one core, including
  re-encoding the slow viewers' profiles (sharp, on libuv's thread pool), which the
  loopback tables above never need. **Encode ms/s**: the camera's encoding CPU time per
  second as \`/api/stats\` reports it at the window's end; **Server late**: the times in
  the window a viewer's frame was late, or gave way in its queue, while its socket
  said its reader had everything, so the server, not the viewer, was slow (no viewer
  is stepped down for it). Both – where this server build does not export them.
- RSS (MiB): steady is the mean of samples every ${RSS_INTERVAL_MS} ms over the window, peak the
  highest sample, high-water the kernel's \`VmHWM\` at the window's end: the process's
  peak since it started, which no sampling can miss (the target is judged on it).
- Capture fps is the camera's, over the window: below its rate, the camera's own
  frame clock fell behind on a machine whose ${cpus().length} cores also run the re-encoding and both
  load generators, and the fast viewers get fewer frames without a single drop.
`;
}
