import { access, constants } from 'node:fs/promises';
import { SourceError } from './errors.js';
import { ProcessSource } from './process-source.js';
import type { SourceContext } from './source.js';

/** Options a camera's config may set for sources that encode JPEGs. */
export interface SourceDefaults {
  /** JPEG quality 1–100 for re-encoded video. Default 85. */
  quality?: number;
  /** RTSP over TCP (default: survives packet loss and NAT) or UDP. */
  rtspTransport?: 'tcp' | 'udp';
  /** Path to the ffmpeg program. Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

const FFMPEG_MISSING = 'ffmpeg is not installed: install it (Debian/Ubuntu: apt-get install ffmpeg) or put it on PATH';

/**
 * A ProcessSource running ffmpeg that first checks its input path exists, so a
 * missing file or device is reported as such, not as ffmpeg's exit code.
 */
export class FfmpegSource extends ProcessSource {
  private readonly inputPath: string | undefined;

  constructor(url: string, args: string[], defaults: SourceDefaults, nominalFps?: number, inputPath?: string) {
    super({ url, command: defaults.ffmpegPath ?? 'ffmpeg', args, nominalFps, missingCommandHint: FFMPEG_MISSING });
    this.inputPath = inputPath;
  }

  override async start(context: SourceContext): Promise<void> {
    if (this.inputPath !== undefined) {
      try {
        await access(this.inputPath, constants.R_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new SourceError(
          code === 'ENOENT' ? `No such file or directory: ${this.inputPath}` :
          code === 'EACCES' ? `Permission denied: the server may not read ${this.inputPath} (for a webcam, add the user to the video group)` :
          `cannot open ${this.inputPath}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    return super.start(context);
  }
}

