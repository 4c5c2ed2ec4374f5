import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type * as Koffi from 'koffi';
import { loadSharp } from '../../src/stream/load-sharp.js';
import { applyNativeMemorySettings, IdleTrim, limitNativeMemory } from '../../src/stream/native-memory.js';
import { useFakeClock } from './fakes.js';

const require = createRequire(import.meta.url);

/** glibc on Linux: where the settings must take effect. */
function hasGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime !== undefined;
}
const glibc = hasGlibc();

/**
 * Whether malloc maps an 8 MiB block of its own right after a 16 MiB one was freed.
 * With glibc's dynamic threshold that free raises the mmap threshold to 16 MiB, so the
 * 8 MiB block comes from an arena (false); with M_MMAP_THRESHOLD fixed at 128 KiB it
 * is mapped (true). (The threshold only decides when an arena would have to grow, so
 * the blocks are larger than the free space any arena here holds.) As source, so a
 * child process without the settings runs the same probe.
 */
const PROBE = `(koffi) => {
  const libc = koffi.load('libc.so.6');
  const malloc = libc.func('void *malloc(size_t size)');
  const free = libc.func('void free(void *ptr)');
  const info = koffi.struct({ arena: 'size_t', ordblks: 'size_t', smblks: 'size_t', hblks: 'size_t', hblkhd: 'size_t',
    usmblks: 'size_t', fsmblks: 'size_t', uordblks: 'size_t', fordblks: 'size_t', keepcost: 'size_t' });
  const mallinfo2 = libc.func('mallinfo2', info, []);
  free(malloc(16 * 1024 * 1024));
  const before = Number(mallinfo2().hblkhd);
  const block = malloc(8 * 1024 * 1024);
  const mapped = Number(mallinfo2().hblkhd) - before >= 8 * 1024 * 1024;
  free(block);
  return mapped;
}`;

function probeMapped(): boolean {
  const probe = new Function(`return ${PROBE}`)() as (koffi: typeof Koffi) => boolean;
  return probe(require('koffi') as typeof Koffi);
}

/** The environment with no malloc setting of the operator's, for a child that shows glibc's defaults. */
function withoutMallocSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES']) delete copy[name];
  return copy;
}

describe('loadSharp', () => {
  test('sets one libvips thread per encode and no operation cache, however node was started', async () => {
    const sharp = await loadSharp();
    assert.equal(sharp.concurrency(), 1);
    const cache = sharp.cache();
    assert.deepEqual([cache.memory.max, cache.files.max, cache.items.max], [0, 0, 0]);
  });

  test('has made the malloc settings by the time sharp is loaded', { skip: glibc ? false : 'glibc only' }, async () => {
    await loadSharp();
    const memory = limitNativeMemory();
    assert.equal(memory.available, true, memory.reason);
    const made = new Map(memory.settings.map((setting) => [setting.name, setting]));
    const left = new Set(memory.skipped.map((setting) => setting.name));
    for (const name of ['M_ARENA_MAX', 'M_MMAP_THRESHOLD', 'M_TRIM_THRESHOLD'] as const) {
      assert.ok(made.get(name)?.accepted === true || left.has(name), `${name}: made and accepted by mallopt, or left to the environment`);
    }
  });
});

describe('malloc settings on glibc', { skip: glibc ? false : 'glibc only' }, () => {
  test('mallopt accepts each of them', () => {
    const memory = applyNativeMemorySettings({ env: {} });
    assert.equal(memory.available, true, memory.reason);
    assert.deepEqual(
      memory.settings.map(({ name, value, accepted }) => [name, value, accepted]),
      [
        ['M_ARENA_MAX', 2, true],
        ['M_MMAP_THRESHOLD', 128 * 1024, true],
        ['M_TRIM_THRESHOLD', 128 * 1024, true],
      ],
    );
    assert.deepEqual(memory.skipped, []);
  });

  test('the mmap threshold is fixed: a freed large buffer no longer makes the next ones stay in an arena', () => {
    // The probe tells the two apart: a process without the settings keeps the block in an arena.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `import koffi from 'koffi'; console.log((${PROBE})(koffi));`], {
      cwd: new URL('.', import.meta.url),
      encoding: 'utf8',
      env: withoutMallocSettings(process.env),
    });
    assert.equal(child.stdout.trim(), 'false', `without the settings: ${child.stderr}`);
    applyNativeMemorySettings({ env: {} });
    assert.equal(probeMapped(), true);
  });

  test('a setting the environment makes is left to it', () => {
    const memory = applyNativeMemorySettings({ env: { MALLOC_ARENA_MAX: '4', GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' } });
    assert.deepEqual(
      memory.settings.map((setting) => setting.name),
      ['M_MMAP_THRESHOLD'],
    );
    assert.deepEqual(memory.skipped, [
      { name: 'M_ARENA_MAX', because: 'MALLOC_ARENA_MAX' },
      { name: 'M_TRIM_THRESHOLD', because: 'GLIBC_TUNABLES (glibc.malloc.trim_threshold)' },
    ]);
  });

  test('trim answers whether memory was released, without throwing', () => {
    assert.equal(typeof applyNativeMemorySettings({ env: {} }).trim(), 'boolean');
  });
});

describe('malloc settings when koffi cannot load', () => {
  test('are unavailable with the reason, change nothing, and trim does nothing', () => {
    const memory = applyNativeMemorySettings({
      loadKoffi: () => {
        throw new Error('no prebuilt binary');
      },
    });
    assert.equal(memory.available, false);
    assert.match(memory.reason ?? '', process.platform === 'linux' ? /koffi could not be loaded: no prebuilt binary/ : /not /);
    assert.deepEqual(memory.settings, []);
    assert.equal(memory.trim(), false);
  });
});

describe('IdleTrim', () => {
  test('trims once the work has paused for the quiet time, not while it goes on', (t) => {
    const clock = useFakeClock(t);
    let trims = 0;
    const idle = new IdleTrim(() => (trims++, true), () => false, 2000);
    for (let frame = 0; frame < 30; frame++) {
      idle.touch();
      clock.advance(100);
    }
    assert.equal(trims, 0, 'an encode every 100 ms never leaves 2 s quiet');
    clock.advance(1899);
    assert.equal(trims, 0);
    clock.advance(1);
    assert.equal(trims, 1);
    clock.advance(10_000);
    assert.equal(trims, 1, 'once per pause');
    idle.touch();
    clock.advance(2000);
    assert.equal(trims, 2, 'and again after the next spell of work');
    assert.equal(idle.trims, 2);
  });

  test('waits again while work is still in progress', (t) => {
    const clock = useFakeClock(t);
    let trims = 0;
    let busy = true;
    const idle = new IdleTrim(() => (trims++, true), () => busy, 2000);
    idle.touch();
    clock.advance(2000);
    assert.equal(trims, 0, 'a long encode sends no event, but is not finished');
    busy = false;
    clock.advance(2000);
    assert.equal(trims, 1);
  });
});
