/**
 * A camera of your own: a Source that renders JPEGs (here with sharp: a ball that
 * moves) and pushes each one as it is ready. camstream serves it as any camera.
 *
 *   node dist/examples/push-source.js    then open the printed URL
 */
import sharp from 'sharp';
import { createCamstream, SourceError, type Source, type SourceContext } from 'camstream';

const WIDTH = 320;
const HEIGHT = 240;

/** One picture: a dark background and a ball at `x`. */
function render(x: number): Promise<Buffer> {
  const ball = Buffer.from(`<svg width="${WIDTH}" height="${HEIGHT}"><circle cx="${x}" cy="${HEIGHT / 2}" r="30" fill="orange"/></svg>`);
  return sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#203040' } })
    .composite([{ input: ball }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

class BallCamera implements Source {
  readonly url = 'example:ball';
  readonly nominalFps = 10;
  private timer: NodeJS.Timeout | undefined;

  // Called when the camera's first viewer (or snapshot) arrives; frames go to `context`.
  async start(context: SourceContext): Promise<void> {
    let frame = 0;
    this.timer = setInterval(() => {
      const x = 30 + ((frame++ * 8) % (WIDTH - 60));
      render(x).then(
        // fromJpeg copies the bytes into a pooled buffer; publish hands it to every viewer.
        (jpeg) => context.publish(context.frames.fromJpeg(jpeg)),
        // The camera restarts a failed source with backoff, and says why in /api/stats.
        (error: Error) => context.fail(new SourceError(`cannot render a frame: ${error.message}`)),
      );
    }, 1000 / this.nominalFps);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }
}

const camstream = createCamstream({ source: new BallCamera(), host: '127.0.0.1', port: Number(process.env.PORT ?? 0), logLevel: 'warn' });
const url = await camstream.start();
console.log(`listening ${url}`);

process.once('SIGTERM', () => void camstream.stop());
