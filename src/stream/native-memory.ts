/**
 * glibc malloc settings for the threads that re-encode frames (sharp/libvips), made
 * in code so that camstream's memory does not depend on how node was started
 * (issue 14: 372 MB of RSS as plain `node`, 133 MB under `MALLOC_ARENA_MAX=2`).
 *
 * Where the memory went (1080p60, 2 of 10 viewers re-encoded at full size): glibc
 * gives each thread that allocates its own arena (12-15 of them: V8's and libuv's
 * threads, libvips' workers), and its dynamic mmap threshold rises to the largest
 * buffer freed (up to 32 MiB), so an encode's large buffers come from, and stay in,
 * the arena of whichever thread ran it: up to 16 MB per arena, mostly free
 * (malloc_stats once: 78 MB held, 31 MB in use). So, before sharp's threads first allocate:
 * - M_MMAP_THRESHOLD 128 KiB, glibc's own starting value, fixed: setting it turns the
 *   dynamic threshold off, so buffers above it are mapped and unmapped, not kept.
 * - M_TRIM_THRESHOLD 128 KiB, glibc's default, again: the dynamic threshold may already
 *   have raised it (to twice the threshold) before sharp loads.
 * - M_ARENA_MAX 2: no further arenas. It cannot merge the ones that exist (six by the
 *   time any JavaScript runs), which libvips' threads then share; without it they
 *   make their own again (RSS peak 109 and 138 MB instead of 98-101).
 * A setting the environment already makes (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES) is left as the operator chose it.
 *
 * glibc only: mallopt is called through koffi (as in kernel-queue.ts). Off Linux, on
 * musl, or when koffi cannot load, nothing changes and `reason` says why; nothing here
 * throws.
 */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

/** One mallopt call: which parameter, the value, and whether glibc accepted it (mallopt returned 1). */
export interface MallocSetting {
  readonly name: MallocParameter;
  readonly value: number;
  readonly accepted: boolean;
}

export type MallocParameter = 'M_ARENA_MAX' | 'M_MMAP_THRESHOLD' | 'M_TRIM_THRESHOLD';

export interface NativeMemory {
  /** False off Linux, without glibc, or when koffi cannot load: then nothing was changed. */
  readonly available: boolean;
  /** Why it is unavailable; undefined when available. */
  readonly reason: string | undefined;
  /** The settings made, in order; one the environment already makes is not among them. */
  readonly settings: readonly MallocSetting[];
  /** The settings left to the environment, with the variable that makes each. */
  readonly skipped: readonly { readonly name: MallocParameter; readonly because: string }[];
  /**
   * malloc_trim(0): hands every arena's free pages back to the kernel (13-25 MB after a
   * run of 1080p encodes; it takes 1.5-5 ms). True when some memory was released.
   */
  trim(): boolean;
}

export interface NativeMemoryOptions {
  /** Loads koffi. Default: require('koffi'). Tests hand in one that throws to check the fallback. */
  loadKoffi?: () => typeof Koffi;
  /** Where to look for settings the operator made. Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** mallopt's parameter numbers (malloc.h; the same on every glibc architecture). */
const PARAMETERS: Readonly<Record<MallocParameter, number>> = { M_TRIM_THRESHOLD: -1, M_MMAP_THRESHOLD: -3, M_ARENA_MAX: -8 };

/** Each setting, and the environment variable and tunable through which an operator makes it instead. */
const SETTINGS: readonly { name: MallocParameter; value: number; variable: string; tunable: string }[] = [
  { name: 'M_ARENA_MAX', value: 2, variable: 'MALLOC_ARENA_MAX', tunable: 'glibc.malloc.arena_max' },
  { name: 'M_MMAP_THRESHOLD', value: 128 * 1024, variable: 'MALLOC_MMAP_THRESHOLD_', tunable: 'glibc.malloc.mmap_threshold' },
  { name: 'M_TRIM_THRESHOLD', value: 128 * 1024, variable: 'MALLOC_TRIM_THRESHOLD_', tunable: 'glibc.malloc.trim_threshold' },
];

type Mallopt = (parameter: number, value: number) => number;
type MallocTrim = (pad: number) => number;

let applied: NativeMemory | undefined;

/** Applies the settings once per process (later calls return the first result). */
export function limitNativeMemory(): NativeMemory {
  applied ??= applyNativeMemorySettings();
  return applied;
}

/** Applies the settings now (each call calls mallopt again, which is harmless). */
export function applyNativeMemorySettings(options: NativeMemoryOptions = {}): NativeMemory {
  if (process.platform !== 'linux') return unavailable(`malloc settings are for glibc on Linux, not ${process.platform}`);
  let koffi: typeof Koffi;
  try {
    koffi = (options.loadKoffi ?? requireKoffi)();
  } catch (error) {
    return unavailable(`koffi could not be loaded: ${messageOf(error)}`);
  }
  let mallopt: Mallopt;
  let mallocTrim: MallocTrim;
  try {
    // Only glibc has libc.so.6 with gnu_get_libc_version; musl's allocator has no arenas to tune.
    const libc = koffi.load('libc.so.6');
    libc.func('const char *gnu_get_libc_version(void)');
    mallopt = libc.func('int mallopt(int parameter, int value)') as Mallopt;
    mallocTrim = libc.func('int malloc_trim(size_t pad)') as MallocTrim;
  } catch (error) {
    return unavailable(`not glibc (${messageOf(error)})`);
  }
  const env = options.env ?? process.env;
  const settings: MallocSetting[] = [];
  const skipped: { name: MallocParameter; because: string }[] = [];
  for (const setting of SETTINGS) {
    const because = operatorSetting(env, setting.variable, setting.tunable);
    if (because !== undefined) {
      skipped.push({ name: setting.name, because });
      continue;
    }
    settings.push({ name: setting.name, value: setting.value, accepted: mallopt(PARAMETERS[setting.name], setting.value) === 1 });
  }
  return { available: true, reason: undefined, settings, skipped, trim: () => mallocTrim(0) === 1 };
}

/** The variable through which the environment already makes this setting, if it does. */
function operatorSetting(env: NodeJS.ProcessEnv, variable: string, tunable: string): string | undefined {
  if (env[variable] !== undefined && env[variable] !== '') return variable;
  if (env.GLIBC_TUNABLES?.includes(`${tunable}=`) === true) return `GLIBC_TUNABLES (${tunable})`;
  return undefined;
}

function requireKoffi(): typeof Koffi {
  return createRequire(import.meta.url)('koffi') as typeof Koffi;
}

function unavailable(reason: string): NativeMemory {
  return { available: false, reason, settings: [], skipped: [], trim: () => false };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Calls `trim` once the work it is told about (`touch()`) has paused for `quietMs`:
 * after the last re-encoded viewer leaves, the encoders' free memory goes back to the
 * kernel. Not per frame: the next encode would fault the same pages in again, and a
 * trim costs milliseconds. While work goes on, touch() only notes the time; the one
 * timer, when it fires, waits again for what is left of the quiet.
 */
export class IdleTrim {
  /** Trims done, for tests and stats. */
  trims = 0;
  private lastTouchMs = 0;
  private armed = false;

  constructor(
    private readonly trim: () => boolean,
    /** True while work is still in progress (a long encode sends no events): the trim waits again. */
    private readonly busy: () => boolean,
    private readonly quietMs = 2000,
  ) {}

  touch(): void {
    this.lastTouchMs = performance.now();
    if (!this.armed) this.arm(this.quietMs);
  }

  private arm(ms: number): void {
    this.armed = true;
    // unref: a trim never keeps the process alive.
    setTimeout(() => this.check(), ms).unref();
  }

  private check(): void {
    const leftMs = this.lastTouchMs + this.quietMs - performance.now();
    if (leftMs > 0) return this.arm(leftMs);
    if (this.busy()) return this.arm(this.quietMs);
    this.armed = false;
    this.trims++;
    this.trim();
  }
}
