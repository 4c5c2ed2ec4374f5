/**
 * A real slow link for the bench: a network namespace joined to this one by a veth
 * pair, with the host side's egress (server → viewer) shaped by `tc`. Needs root
 * and Debian's iproute2 (`ip`, `tc`).
 *
 * The addresses are 10.214.<n>.1/30 (host side) and 10.214.<n>.2/30 (namespace
 * side), <n> derived from the PID and checked against every address and route
 * here: they exist only on this pair, so nothing sent to them leaves the machine.
 * Everything is synchronous, so destroy() also works from a signal handler.
 * test/helpers/netns.ts builds the tests' links with the same shaping.
 */
import { spawnSync } from 'node:child_process';

export const DEBIAN_PACKAGE = 'iproute2';

/** What the link is made of. */
export interface Shaping {
  /** netem delay, e.g. '20ms'. */
  delay: string;
  /** netem loss in percent, e.g. 0.1. */
  lossPercent: number;
  /** tbf rate, e.g. '16mbit' (2 MB/s). */
  rate: string;
  /** tbf bucket, e.g. '32kbit'. */
  burst: string;
  /** tbf queue, as the longest time a packet may wait in it, e.g. '100ms'. */
  latency: string;
}

export interface ShapedLink {
  readonly namespace: string;
  readonly hostInterface: string;
  /** Where the server listens; from the host, the kernel delivers to it over lo. */
  readonly hostAddress: string;
  readonly peerAddress: string;
  /** False when the kernel has no sch_netem: the rate and loss are there, the delay is not. */
  readonly netem: boolean;
  /** The tc commands applied, for the report. */
  readonly shapedWith: string;
  /** Runs a command inside the namespace: `ip netns exec` execs it in place, so the PID is the command's. */
  readonly wrapper: readonly string[];
  /** `tc -s qdisc show` of the host side: what was sent, dropped and queued. */
  qdiscStats(): string;
  /** Deletes the veth pair and the namespace (kill the processes inside first). Safe to call twice. */
  destroy(): void;
}

/** Why no link can be made here, or undefined when one can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux only, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'not running as root (network namespaces and tc need it)';
  for (const tool of ['ip', 'tc']) {
    const version = run(tool, ['-V'], false);
    if (!version.ok) return `'${tool}' is not installed (Debian package ${DEBIAN_PACKAGE})`;
    if (!version.output.includes('iproute2')) return `'${tool}' is not iproute2's: ${version.output}`;
  }
  return undefined;
}

/** Creates the namespace, the veth pair (both ends up) and the shaping. Throws, having cleaned up, when any step fails. */
export function createShapedLink(shaping: Shaping): ShapedLink {
  const namespace = `camstream-bench-${process.pid}`;
  // Interface names are at most 15 bytes.
  const hostInterface = `csbh${process.pid}`.slice(0, 15);
  const peerInterface = `csbn${process.pid}`.slice(0, 15);
  const subnet = freeSubnet();
  const hostAddress = `10.214.${subnet}.1`;
  const peerAddress = `10.214.${subnet}.2`;
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', destroy);
    // Deleting either end deletes the pair; the namespace goes once no process is left in it.
    run('ip', ['link', 'del', hostInterface], false);
    run('ip', ['netns', 'del', namespace], false);
  };
  // A bench that exits without reaching its finally (process.exit in a signal handler) still cleans up.
  process.on('exit', destroy);

  try {
    run('ip', ['netns', 'add', namespace]);
    run('ip', ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', peerInterface, 'netns', namespace]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    // One TCP segment per packet, so loss and the bucket act on packets, not on 64 KB GSO bursts.
    run('ip', ['link', 'set', hostInterface, 'gso_max_segs', '1']);
    run('ip', ['link', 'set', hostInterface, 'up']);
    run('ip', ['-n', namespace, 'addr', 'add', `${peerAddress}/30`, 'dev', peerInterface]);
    run('ip', ['-n', namespace, 'link', 'set', peerInterface, 'up']);
    run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    const { netem, shapedWith } = applyShaping(hostInterface, shaping);
    return {
      namespace,
      hostInterface,
      hostAddress,
      peerAddress,
      netem,
      shapedWith,
      wrapper: ['ip', 'netns', 'exec', namespace],
      qdiscStats: () => run('tc', ['-s', 'qdisc', 'show', 'dev', hostInterface], false).output,
      destroy,
    };
  } catch (error) {
    destroy();
    throw error;
  }
}

/**
 * netem as root (delay, loss) with tbf as its child (rate) is netem's own recipe.
 * A kernel built without sch_netem ("Specified qdisc kind is unknown") gets the
 * same rate and loss without the delay: an HTB root whose default class holds the
 * tbf, and a classic-BPF filter (cls_bpf) that sends a random `lossPercent` of the
 * packets to a class whose pfifo holds none, so they are dropped.
 */
export function applyShaping(device: string, shaping: Shaping): { netem: boolean; shapedWith: string } {
  const tbf = ['tbf', 'rate', shaping.rate, 'burst', shaping.burst, 'latency', shaping.latency];
  const commands: string[][] = [
    ['qdisc', 'add', 'dev', device, 'root', 'handle', '1:', 'netem', 'delay', shaping.delay, 'loss', `${shaping.lossPercent}%`],
    ['qdisc', 'add', 'dev', device, 'parent', '1:1', 'handle', '10:', ...tbf],
  ];
  const described = (list: string[][]): string => list.map((args) => `tc ${args.join(' ').replace(device, '<veth>')}`).join('; ');
  const netem = run('tc', commands[0] as string[], false);
  if (netem.ok) {
    run('tc', commands[1] as string[]);
    return { netem: true, shapedWith: described(commands) };
  }
  if (!/unknown/i.test(netem.output)) throw new Error(`tc ${(commands[0] as string[]).join(' ')} failed: ${netem.output}`);
  // ld rand (SKF_AD_OFF + SKF_AD_RANDOM); below the threshold: class 1:99 (dropped); else no match (default class 1:10).
  const threshold = Math.round((shaping.lossPercent / 100) * 2 ** 32);
  const dropClass = 0x10099;
  const bytecode = `4,32 0 0 ${(0xfffff000 + 56) >>> 0},53 0 1 ${threshold},6 0 0 0,6 0 0 ${dropClass}`;
  const fallback: string[][] = [
    ['qdisc', 'add', 'dev', device, 'root', 'handle', '1:', 'htb', 'default', '10'],
    ['class', 'add', 'dev', device, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit', 'quantum', '60000'],
    ['qdisc', 'add', 'dev', device, 'parent', '1:10', 'handle', '10:', ...tbf],
    ['class', 'add', 'dev', device, 'parent', '1:', 'classid', '1:99', 'htb', 'rate', '10gbit', 'quantum', '60000'],
    ['qdisc', 'add', 'dev', device, 'parent', '1:99', 'handle', '99:', 'pfifo', 'limit', '0'],
    ['filter', 'add', 'dev', device, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'bpf', 'bytecode', bytecode],
  ];
  for (const args of fallback) run('tc', args);
  return { netem: false, shapedWith: described(fallback) };
}

/** n of a 10.214.<n>.0/30 that no address or route here overlaps, starting from one derived from the PID. */
function freeSubnet(): number {
  const taken = [
    ...prefixes(run('ip', ['-4', '-o', 'addr', 'show'], false).output),
    ...prefixes(run('ip', ['-4', 'route', 'show', 'table', 'all'], false).output),
  ].filter((prefix) => prefix.length > 0);
  for (let i = 0; i < 256; i++) {
    const n = (process.pid + i) % 256;
    const ours = { address: ipv4(`10.214.${n}.0`), length: 30 };
    if (!taken.some((prefix) => overlaps(prefix, ours))) return n;
  }
  throw new Error('no free 10.214.<n>.0/30 subnet for the link');
}

interface Prefix {
  address: number;
  length: number;
}

/** Every a.b.c.d or a.b.c.d/len in `ip` output. */
function prefixes(text: string): Prefix[] {
  const found: Prefix[] = [];
  for (const match of text.matchAll(/(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?(?![\d.])/g)) {
    found.push({ address: ipv4(match[1] as string), length: match[2] === undefined ? 32 : Number(match[2]) });
  }
  return found;
}

function ipv4(dotted: string): number {
  return dotted.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

function overlaps(a: Prefix, b: Prefix): boolean {
  const length = Math.min(a.length, b.length);
  const size = 2 ** (32 - length);
  return Math.floor(a.address / size) === Math.floor(b.address / size);
}

/** Runs a command to completion; throws with its output when it fails and `check` is set. */
export function run(command: string, args: string[], check = true): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  const ok = result.error === undefined && result.status === 0;
  if (!ok && check) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? output}`);
  return { ok, output };
}
