import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Frame } from '../frame/index.js';
import { SourceError } from './errors.js';
import { FrameClock } from './frame-clock.js';
import type { Source, SourceContext } from './source.js';

const JPEG_NAME = /\.jpe?g$/i;

/**
 * `jpegdir:/path?fps=10`: a folder of JPEG files replayed in name order, looping,
 * at a fixed rate. Each file is read straight into a pooled buffer. A file that is
 * not a JPEG (or vanished) is skipped with a warning; the others go on.
 */
export class JpegDirSource implements Source {
  readonly url: string;
  readonly nominalFps: number;
  private readonly directory: string;
  private readonly clock: FrameClock;
  private files: string[] = [];
  private next = 0;
  private reading = false;
  private context: SourceContext | undefined;
  private readonly warned = new Set<string>();

  constructor(directory: string, fps: number, url = `jpegdir:${directory}?fps=${fps}`) {
    this.url = url;
    this.directory = directory;
    this.nominalFps = fps;
    this.clock = new FrameClock(fps, () => void this.deliver());
  }

  async start(context: SourceContext): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT' ? `No such file or directory: folder ${this.directory} does not exist` :
        code === 'ENOTDIR' ? `${this.directory} is not a folder; jpegdir: needs a folder of .jpg files` :
        code === 'EACCES' ? `Permission denied: the server may not read ${this.directory}` :
        `cannot read folder ${this.directory}: ${(error as Error).message}`;
      throw new SourceError(reason, { cause: error });
    }
    this.files = names.filter((name) => JPEG_NAME.test(name)).sort().map((name) => join(this.directory, name));
    if (this.files.length === 0) throw new SourceError(`no .jpg or .jpeg files in ${this.directory}`);
    this.context = context;
    this.next = 0;
    this.clock.start();
  }

  async stop(): Promise<void> {
    this.clock.stop();
    this.context = undefined;
  }

  private async deliver(): Promise<void> {
    // A slow disk skips ticks rather than piling reads up.
    if (this.reading || this.context === undefined) return;
    this.reading = true;
    const path = this.files[this.next] as string;
    this.next = (this.next + 1) % this.files.length;
    try {
      const frame = await this.read(path, this.context);
      if (frame === undefined) return;
      if (this.context === undefined) frame.release();
      else this.context.publish(frame);
    } finally {
      this.reading = false;
    }
  }

  private async read(path: string, context: SourceContext): Promise<Frame | undefined> {
    let handle;
    try {
      handle = await open(path, 'r');
      const { size } = await handle.stat();
      const buffer = context.frames.allocate(size);
      const { bytesRead } = await handle.read(buffer.bytes, Frame.JPEG_OFFSET, size, 0);
      const bytes = buffer.bytes;
      if (bytesRead < 4 || bytes[Frame.JPEG_OFFSET] !== 0xff || bytes[Frame.JPEG_OFFSET + 1] !== 0xd8) {
        buffer.release();
        this.warnOnce(context, path, 'not a JPEG (does not start with FF D8); skipped');
        return undefined;
      }
      return context.frames.seal(buffer, bytesRead);
    } catch (error) {
      this.warnOnce(context, path, `cannot read: ${(error as Error).message}; skipped`);
      return undefined;
    } finally {
      await handle?.close();
    }
  }

  private warnOnce(context: SourceContext, path: string, message: string): void {
    if (this.warned.has(path)) return;
    this.warned.add(path);
    context.log.warn({ file: path }, `${path}: ${message}`);
  }
}
