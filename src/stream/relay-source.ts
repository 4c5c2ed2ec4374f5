import { CountedMemory, type Frame } from '../frame/index.js';
import type { Source, SourceContext } from '../source/index.js';

/**
 * A frame's memory seen from a viewer loop's thread: a view of a pooled buffer
 * that belongs to the main thread (SharedArrayBuffer, so nothing is copied). The
 * main thread holds one reference for this loop; when the last holder here
 * releases, `onLastRelease(id)` tells it to drop that reference.
 */
export class RelayedMemory extends CountedMemory {
  constructor(
    memory: SharedArrayBuffer,
    private readonly id: number,
    private readonly onLastRelease: (id: number) => void,
  ) {
    // One holder: the frame made over it, which its publisher hands on.
    super(Buffer.from(memory), 1);
  }

  protected override lastReleased(): void {
    this.onLastRelease(this.id);
  }
}

/**
 * The source of a camera's mirror in a viewer loop: it publishes the frames the
 * main thread relays (its real source runs there). Starting and stopping only
 * opens and closes the gate; frames arriving while closed are released.
 */
export class RelaySource implements Source {
  private context: SourceContext | undefined;

  constructor(
    readonly url: string,
    readonly nominalFps: number | undefined,
  ) {}

  deliver(frame: Frame): void {
    if (this.context === undefined) frame.release();
    else this.context.publish(frame);
  }

  start(context: SourceContext): Promise<void> {
    this.context = context;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.context = undefined;
    return Promise.resolve();
  }
}
