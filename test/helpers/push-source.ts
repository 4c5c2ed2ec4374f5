import type { Source, SourceContext } from '../../src/index.js';

/** A source the test drives by hand, as the README's custom-source example does. */
export class PushSource implements Source {
  readonly url = 'test:push';
  readonly nominalFps = undefined;
  context: SourceContext | undefined;
  async start(context: SourceContext): Promise<void> {
    this.context = context;
  }
  async stop(): Promise<void> {
    this.context = undefined;
  }
  /** Publishes a copy of `jpeg` as the next frame (nothing while stopped). */
  push(jpeg: Buffer): void {
    this.context?.publish(this.context.frames.fromJpeg(jpeg));
  }
}

/** Pushes `jpeg` into `source` `fps` times a second (a pooled copy each time) until the returned stop is called. */
export function pushEvery(source: PushSource, jpeg: Buffer, fps: number): () => void {
  const timer = setInterval(() => source.push(jpeg), 1000 / fps);
  return () => clearInterval(timer);
}
