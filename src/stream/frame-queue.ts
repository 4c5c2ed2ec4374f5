import type { Frame } from '../frame/index.js';

/**
 * A viewer's bounded queue of frames waiting to be written: a fixed ring (a
 * power-of-two array indexed with `& mask`, as fast-fifo's fixed-size.js) that
 * never grows. When it is full the oldest frame gives way to the new one and is
 * handed back to the caller to release and count: latest frame wins.
 */
export class FrameQueue {
  private readonly slots: (Frame | undefined)[];
  private readonly mask: number;
  private head = 0;
  private size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`queue capacity must be a power of two >= 1, got ${capacity}`);
    }
    this.slots = new Array<Frame | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
  }

  get length(): number {
    return this.size;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /** Adds `frame`; when full, removes and returns the oldest frame, else undefined. */
  push(frame: Frame): Frame | undefined {
    let displaced: Frame | undefined;
    if (this.size > this.mask) {
      displaced = this.shift();
    }
    this.slots[(this.head + this.size) & this.mask] = frame;
    this.size++;
    return displaced;
  }

  shift(): Frame | undefined {
    if (this.size === 0) return undefined;
    const frame = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return frame;
  }
}
