import { BufferOwnershipError, FrameSizeError } from './errors.js';

/**
 * A pool of reference-counted byte buffers in size classes.
 *
 * Frames at 30–60 fps would otherwise allocate (and the GC would later scan and
 * free) a fresh multi-hundred-kilobyte buffer every 16–33 ms. Here a buffer is
 * taken from its class, shared by everything that sends the frame, and returns to
 * its class when the last holder releases it.
 *
 * Size classes: four per power of two from 4 KiB to 16 MiB (4, 5, 6, 7, 8, 10, 12,
 * 14, 16 KiB, …), so a buffer wastes at most a quarter of its size. A camera's frame
 * sizes jitter by a few percent, which keeps them in one or two classes; when a
 * class is empty the next larger one is tried before anything is allocated.
 */

export const MIN_CLASS_SIZE = 4 * 1024;
export const MAX_CLASS_SIZE = 16 * 1024 * 1024;
const STEPS_PER_DOUBLING = 4;

function buildClassSizes(): readonly number[] {
  const sizes: number[] = [];
  for (let base = MIN_CLASS_SIZE; base < MAX_CLASS_SIZE; base *= 2) {
    for (let step = 0; step < STEPS_PER_DOUBLING; step++) {
      sizes.push(base + (base / STEPS_PER_DOUBLING) * step);
    }
  }
  sizes.push(MAX_CLASS_SIZE);
  return sizes;
}

export const CLASS_SIZES: readonly number[] = buildClassSizes();

/** Index of the smallest class that holds `size` bytes, or -1 when none does. */
export function classIndexFor(size: number): number {
  if (size > MAX_CLASS_SIZE) return -1;
  let lo = 0;
  let hi = CLASS_SIZES.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((CLASS_SIZES[mid] as number) >= size) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface BufferPoolOptions {
  /** Idle buffers kept per size class; more are dropped for the GC (trimmed). Default 16. */
  maxIdlePerClass?: number;
  /** Idle bytes kept across all classes; more are trimmed. Default 64 MiB. */
  maxIdleBytes?: number;
  /**
   * Back buffers with SharedArrayBuffer memory, so other threads (viewer loops,
   * see src/http/viewer-loops.ts) can send the same bytes without a copy. Default false.
   */
  shared?: boolean;
}

/** A snapshot of the pool's counters; every field is a plain number. */
export interface PoolStats {
  /** Acquisitions served from an idle pooled buffer. */
  hits: number;
  /** Acquisitions that had to allocate: the class was empty, or the size was over the largest class. */
  misses: number;
  /** Of the misses, those over the largest class (a one-off buffer, never pooled). */
  oversize: number;
  /** Buffers handed out and not yet released. */
  inUse: number;
  /** Most buffers ever in use at once. */
  highWaterMark: number;
  /** Pooled buffers waiting to be reused. */
  idle: number;
  /** Bytes held by pooled buffers, idle and in use (one-off buffers excluded). */
  bytesPooled: number;
  /** Bytes held by idle buffers. */
  bytesIdle: number;
  /** Buffers dropped on release because the idle caps were reached. */
  trimmed: number;
}

/**
 * One buffer out of the pool. `bytes` is the whole backing buffer (its class size);
 * callers track how much of it they use. Whoever holds a reference calls
 * `release()` exactly once; `retain()` adds a holder.
 */
export class PooledBuffer {
  readonly bytes: Buffer;
  /** Index into CLASS_SIZES, or -1 for a one-off buffer larger than every class. */
  readonly classIndex: number;
  private refs = 0;
  private readonly pool: BufferPool;

  constructor(pool: BufferPool, bytes: Buffer, classIndex: number) {
    this.pool = pool;
    this.bytes = bytes;
    this.classIndex = classIndex;
  }

  get refCount(): number {
    return this.refs;
  }

  retain(): this {
    if (this.refs <= 0) {
      throw new BufferOwnershipError('retain() on a buffer that is back in the pool; take a reference before the last release');
    }
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) {
      throw new BufferOwnershipError('release() on a buffer that is already back in the pool; each holder releases exactly once');
    }
    if (--this.refs === 0) this.pool.giveBack(this);
  }

  /** Called by the pool only, when it hands the buffer out. */
  activate(): void {
    this.refs = 1;
  }
}

export class BufferPool {
  private readonly idleByClass: PooledBuffer[][] = CLASS_SIZES.map(() => []);
  private readonly maxIdlePerClass: number;
  private readonly maxIdleBytes: number;
  private readonly allocate: (size: number) => Buffer;
  private hits = 0;
  private misses = 0;
  private oversize = 0;
  private inUse = 0;
  private highWaterMark = 0;
  private idle = 0;
  private bytesPooled = 0;
  private bytesIdle = 0;
  private trimmed = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.maxIdlePerClass = options.maxIdlePerClass ?? 16;
    this.maxIdleBytes = options.maxIdleBytes ?? 64 * 1024 * 1024;
    this.allocate = options.shared === true ? allocateShared : Buffer.allocUnsafeSlow;
    if (!Number.isInteger(this.maxIdlePerClass) || this.maxIdlePerClass < 0) {
      throw new FrameSizeError(`maxIdlePerClass must be a whole number >= 0, got ${this.maxIdlePerClass}`);
    }
    if (!(this.maxIdleBytes >= 0)) {
      throw new FrameSizeError(`maxIdleBytes must be >= 0, got ${this.maxIdleBytes}`);
    }
  }

  /**
   * Pre-allocates `count` idle buffers in the class that holds `size` bytes, so the
   * first frames of a camera are hits too. Bounded by the idle caps.
   */
  reserve(size: number, count: number): void {
    const index = classIndexFor(size);
    if (index < 0) return;
    const idle = this.idleByClass[index] as PooledBuffer[];
    const classSize = CLASS_SIZES[index] as number;
    while (idle.length < count && idle.length < this.maxIdlePerClass && this.bytesIdle + classSize <= this.maxIdleBytes) {
      idle.push(new PooledBuffer(this, this.allocate(classSize), index));
      this.idle++;
      this.bytesIdle += classSize;
      this.bytesPooled += classSize;
    }
  }

  /** A buffer of `size` bytes of this pool's kind (shared or not), never pooled or counted. */
  allocateUnpooled(size: number): Buffer {
    return this.allocate(size);
  }

  /** A buffer of at least `size` bytes with one reference, owned by the caller. */
  acquire(size: number): PooledBuffer {
    if (!Number.isInteger(size) || size < 0) {
      throw new FrameSizeError(`buffer size must be a whole number of bytes >= 0, got ${size}`);
    }
    const index = classIndexFor(size);
    let buffer: PooledBuffer | undefined;
    if (index < 0) {
      this.misses++;
      this.oversize++;
      buffer = new PooledBuffer(this, this.allocate(size), -1);
    } else {
      buffer = this.takeIdle(index) ?? this.takeIdle(index + 1);
      if (buffer !== undefined) {
        this.hits++;
      } else {
        this.misses++;
        const classSize = CLASS_SIZES[index] as number;
        buffer = new PooledBuffer(this, this.allocate(classSize), index);
        this.bytesPooled += classSize;
      }
    }
    buffer.activate();
    if (++this.inUse > this.highWaterMark) this.highWaterMark = this.inUse;
    return buffer;
  }

  stats(): PoolStats {
    return {
      hits: this.hits,
      misses: this.misses,
      oversize: this.oversize,
      inUse: this.inUse,
      highWaterMark: this.highWaterMark,
      idle: this.idle,
      bytesPooled: this.bytesPooled,
      bytesIdle: this.bytesIdle,
      trimmed: this.trimmed,
    };
  }

  /** Called by PooledBuffer when its last reference is released. */
  giveBack(buffer: PooledBuffer): void {
    this.inUse--;
    const index = buffer.classIndex;
    if (index < 0) return; // one-off: left to the GC
    const idle = this.idleByClass[index] as PooledBuffer[];
    const size = buffer.bytes.length;
    if (idle.length >= this.maxIdlePerClass || this.bytesIdle + size > this.maxIdleBytes) {
      this.trimmed++;
      this.bytesPooled -= size;
      return;
    }
    idle.push(buffer);
    this.idle++;
    this.bytesIdle += size;
  }

  private takeIdle(index: number): PooledBuffer | undefined {
    const idle = this.idleByClass[index];
    if (idle === undefined) return undefined;
    const buffer = idle.pop();
    if (buffer !== undefined) {
      this.idle--;
      this.bytesIdle -= buffer.bytes.length;
    }
    return buffer;
  }
}

function allocateShared(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}
