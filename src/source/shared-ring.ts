import { RingRenderError } from './errors.js';
import { renderRingInChild } from './render-ring.js';
import type { RenderOptions } from './synthetic-frames.js';

/**
 * Renders a ring of JPEGs, writing each into the buffer `store` returns for its
 * length, and resolves with those buffers (renderRingInChild's contract).
 */
export type RenderRing = (options: RenderOptions, store: (length: number) => Buffer) => Promise<Buffer[]>;

/**
 * One rendered ring of JPEGs, shared by every synthetic camera of its size and
 * quality. Its bytes are those of the first camera's ring slots (the render wrote
 * straight into them), so one camera holds its JPEGs once, as without sharing.
 * Nobody writes them after the render: a frame's header and trailer go around the
 * JPEG in a slot, never into it.
 */
export class SharedRing {
  readonly jpegs: readonly Buffer[];
  constructor(jpegs: readonly Buffer[]) {
    this.jpegs = jpegs;
  }
}

/**
 * Hands out rendered rings by (width, height, quality, count), so that twelve
 * cameras of one size starting together start one render child, not twelve (each
 * child loads libvips, and they fought over two cores for seconds).
 *
 * A render in progress is joined; a rendered ring still held by some camera is
 * reused without a child. The cache keeps rings only through WeakRefs: cameras hold
 * them, and a ring nobody holds is collected. A failed render rejects everyone who
 * waited for it with the same RingRenderError and is forgotten, so the next start
 * renders again.
 */
export class RingCache {
  private readonly render: RenderRing;
  private readonly rendering = new Map<string, Promise<SharedRing>>();
  private readonly rendered = new Map<string, WeakRef<SharedRing>>();
  /** Drops a collected ring's entry, so keys of sizes no longer used do not pile up. */
  private readonly forget = new FinalizationRegistry<string>((key) => {
    if (this.rendered.get(key)?.deref() === undefined) this.rendered.delete(key);
  });

  constructor(render: RenderRing = renderRingInChild) {
    this.render = render;
  }

  /**
   * The ring for `options`, with each of its JPEGs written once, in order, into the
   * buffer `store` returns for its length (the caller's own ring slots). The caller
   * that starts the render gets the render's output there directly; every other one
   * gets a copy, made here, once. Keep the returned ring for as long as the slots
   * are in use: that is what keeps it cached for the next camera.
   */
  acquire(options: RenderOptions, store: (length: number) => Buffer): Promise<SharedRing> {
    const key = `${options.width}x${options.height}q${options.quality}n${options.count}`;
    // Decided synchronously: an await before the render is registered would let a
    // concurrent caller start a second one.
    const cached = this.rendered.get(key)?.deref();
    if (cached !== undefined) return Promise.resolve(cached).then((ring) => copyInto(ring, store));
    const pending = this.rendering.get(key);
    if (pending !== undefined) return pending.then((ring) => copyInto(ring, store));
    // finally() runs after set() even when the render fails at once, and before any
    // waiter resumes: a failed render is forgotten, and the next start renders anew.
    const render = this.renderOnce(key, options, store).finally(() => this.rendering.delete(key));
    this.rendering.set(key, render);
    return render;
  }

  private async renderOnce(key: string, options: RenderOptions, store: (length: number) => Buffer): Promise<SharedRing> {
    let jpegs: Buffer[];
    try {
      jpegs = await this.render(options, store);
    } catch (error) {
      throw new RingRenderError(`${options.width}x${options.height}, quality ${options.quality}, ${options.count} frames`, { cause: error });
    }
    const ring = new SharedRing(jpegs);
    this.rendered.set(key, new WeakRef(ring));
    this.forget.register(ring, key);
    return ring;
  }
}

/** Writes the ring's JPEGs into the caller's buffers: the one copy a camera makes, at start. */
function copyInto(ring: SharedRing, store: (length: number) => Buffer): SharedRing {
  for (const jpeg of ring.jpegs) jpeg.copy(store(jpeg.length));
  return ring;
}

/** The server's rings: every SyntheticSource uses this one unless given its own. */
export const sharedRings = new RingCache();
