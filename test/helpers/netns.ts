import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { applyShaping, run, type Shaping } from '../../bench/netns.js';

export type { Shaping };

/**
 * A real slow link for tests: a network namespace joined to this one by a veth
 * pair, the host side's egress (server → viewer) shaped with `tc`. Needs root and
 * Debian's iproute2 (`ip`, `tc`). The addresses are 10.213.<n>.1/30 (host side) and
 * 10.213.<n>.2/30 (namespace side): they exist only on this pair, so no traffic
 * leaves the machine.
 */

const DEBIAN_PACKAGE = 'iproute2';

/**
 * Whether network namespaces can be made here. Returns a skip reason naming the
 * Debian package, or false when they can; under CI=true throws instead (CI runs
 * as root and .ci/run installs iproute2).
 */
export function requireNetns(): string | false {
  const reason = netnsUnavailable();
  if (reason === undefined) return false;
  if (process.env.CI === 'true') throw new Error(`${reason} under CI=true; .ci/run must run as root and apt-get install ${DEBIAN_PACKAGE}`);
  return `${reason}; this test needs root and Debian package ${DEBIAN_PACKAGE}`;
}

function netnsUnavailable(): string | undefined {
  for (const tool of ['ip', 'tc']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error !== undefined) return `'${tool}' is not installed`;
  }
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  // Root in a container may still lack CAP_SYS_ADMIN / CAP_NET_ADMIN: try one.
  const probe = `camstream-probe-${process.pid}`;
  const added = run('ip', ['netns', 'add', probe], false);
  if (!added.ok) return `cannot create a network namespace: ${added.output}`;
  run('ip', ['netns', 'del', probe], false);
  return undefined;
}

/** The shaping the tests ask for: 2 MB/s, with 20 ms delay and 0.1 % loss where the kernel has netem. */
export const SLOW_LINK: Shaping = { rate: '16mbit', burst: '32kbit', latency: '400ms', delay: '20ms', lossPercent: 0.1 };

export interface ShapedLink {
  /** The namespace's name (for `ip netns exec`). */
  readonly namespace: string;
  /** The host side's interface and address: the server listens here. */
  readonly hostInterface: string;
  readonly hostAddress: string;
  /** The namespace side's address (the viewers' remote address in /api/stats). */
  readonly peerAddress: string;
  /** What shape() applied, as tc commands, once shaped. */
  readonly shapedWith: string | undefined;
  /** Shapes the host side's egress (server → viewer); replaces any shaping. */
  shape(shaping?: Shaping): void;
  /** Removes the shaping: the link runs at veth speed. */
  unshape(): void;
  /** Runs `command` inside the namespace; the child is killed by destroy() if still running. */
  spawn(command: string, args: string[]): ChildProcess;
  /** Kills the children still running (by PID), then deletes the veth pair and the namespace. Safe to call twice. */
  destroy(): void;
}

let nextLink = 0;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Creates the namespace and veth pair, both ends up (and the namespace's lo). Not shaped yet. */
export function createLink(): ShapedLink {
  const index = nextLink++;
  const tag = `${process.pid}${index === 0 ? '' : `-${index}`}`;
  const namespace = `camstream-test-${tag}`;
  // Interface names are at most 15 bytes.
  const hostInterface = `csh${process.pid}x${index}`.slice(0, 15);
  const peerInterface = `csn${process.pid}x${index}`.slice(0, 15);
  const subnet = freeSubnet();
  const hostAddress = `10.213.${subnet}.1`;
  const peerAddress = `10.213.${subnet}.2`;
  const children = new Set<ChildProcess>();
  let destroyed = false;
  let shapedWith: string | undefined;

  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', destroy);
    for (const signal of SIGNALS) process.off(signal, onSignal);
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    children.clear();
    // Deleting either end deletes the pair; the namespace goes once no process is left in it.
    run('ip', ['link', 'del', hostInterface], false);
    run('ip', ['netns', 'del', namespace], false);
  };
  // A test process that exits without its after() (an uncaught error, the runner's
  // SIGTERM on a timeout, ^C) still cleans up; the signal is then raised again.
  const onSignal = (signal: NodeJS.Signals): void => {
    destroy();
    process.kill(process.pid, signal);
  };
  process.on('exit', destroy);
  for (const signal of SIGNALS) process.once(signal, onSignal);

  try {
    run('ip', ['netns', 'add', namespace]);
    run('ip', ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', peerInterface]);
    run('ip', ['link', 'set', peerInterface, 'netns', namespace]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    // One segment per packet, so loss applies to packets, not to 64 KB GSO bursts.
    run('ip', ['link', 'set', hostInterface, 'gso_max_segs', '1'], false);
    run('ip', ['link', 'set', hostInterface, 'up']);
    run('ip', ['-n', namespace, 'addr', 'add', `${peerAddress}/30`, 'dev', peerInterface]);
    run('ip', ['-n', namespace, 'link', 'set', peerInterface, 'up']);
    run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    destroy();
    throw error;
  }

  return {
    namespace,
    hostInterface,
    hostAddress,
    peerAddress,
    get shapedWith() {
      return shapedWith;
    },
    shape(shaping: Shaping = SLOW_LINK): void {
      run('tc', ['qdisc', 'del', 'dev', hostInterface, 'root'], false);
      shapedWith = shapeDevice(hostInterface, shaping);
    },
    unshape(): void {
      run('tc', ['qdisc', 'del', 'dev', hostInterface, 'root']);
      shapedWith = undefined;
    },
    spawn(command: string, args: string[]): ChildProcess {
      if (destroyed) throw new Error(`link ${namespace} is destroyed`);
      // `ip netns exec` execs the command itself, so the child's PID is the command's.
      const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    destroy,
  };
}

/** Shapes `device` as the bench does (bench/netns.ts): netem + tbf, or rate and loss without netem. */
function shapeDevice(device: string, shaping: Shaping): string {
  const { netem, shapedWith } = applyShaping(device, shaping);
  return netem ? shapedWith : `no netem in this kernel, so no delay: ${shapedWith}`;
}

/** `tc -s qdisc show` of the device: what was sent and dropped where. */
export function qdiscStats(device: string): string {
  return run('tc', ['-s', 'qdisc', 'show', 'dev', device], false).output;
}

/** A 10.213.<n>.0/30 not on any interface here, starting from one derived from our PID. */
function freeSubnet(): number {
  const used = run('ip', ['-4', '-o', 'addr', 'show'], false).output;
  for (let i = 0; i < 254; i++) {
    const n = ((process.pid + i) % 254) + 1;
    if (!used.includes(`10.213.${n}.`)) return n;
  }
  throw new Error('no free 10.213.<n>.0/30 subnet for a test link');
}

/**
 * Measures the link from host to namespace: a server on the host address sends
 * `bytes`, a node child in the namespace times their arrival after the first
 * `warmupBytes` (so the token bucket's burst and slow start do not count).
 * Resolves with bytes per second.
 */
export async function measureThroughput(link: ShapedLink, bytes = 3_000_000, warmupBytes = 500_000): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes + warmupBytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return;
      }
      socket.end();
    };
    socket.on('drain', pump);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, link.hostAddress, resolve));
  const { port } = server.address() as AddressInfo;
  const script = `
    const socket = require('node:net').connect(${port}, '${link.hostAddress}');
    let got = 0, start = 0;
    socket.on('data', (c) => {
      got += c.length;
      if (start === 0 && got >= ${warmupBytes}) { start = performance.now(); got = 0; }
      if (start > 0 && got >= ${bytes}) {
        console.log(JSON.stringify({ bytes: got, ms: performance.now() - start }));
        socket.destroy();
      }
    });`;
  try {
    const child = link.spawn(process.execPath, ['-e', script]);
    let out = '';
    child.stdout?.on('data', (data: Buffer) => (out += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (out += data.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await new Promise<void>((resolve) => child.once('close', () => resolve()));
    clearTimeout(timer);
    const line = out.split('\n').find((each) => each.startsWith('{'));
    if (line === undefined) throw new Error(`throughput probe printed no result: ${out}`);
    const result = JSON.parse(line) as { bytes: number; ms: number };
    return result.bytes / (result.ms / 1000);
  } finally {
    server.close();
  }
}
