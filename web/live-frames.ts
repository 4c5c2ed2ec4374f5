// Live pictures for the dashboard: every camera over one WebSocket (/ws), drawn on
// canvases. One connection, not one <img> stream per camera, because browsers open
// at most about six HTTP/1.1 connections per host: twelve streams would stall.

/** One binary message of /ws (README, "/ws"): the header, then the JPEG. */
export interface FrameMessage {
  camera: string;
  sequence: number;
  /** Capture time, microseconds since the Unix epoch. */
  captureMicros: number;
  jpeg: Uint8Array<ArrayBuffer>;
}

const FORMAT_VERSION = 1;

export function decodeFrameMessage(data: ArrayBuffer): FrameMessage {
  const view = new DataView(data);
  if (view.getUint8(0) !== FORMAT_VERSION) throw new Error(`unknown /ws frame format ${view.getUint8(0)}`);
  const idLength = view.getUint8(1);
  const camera = new TextDecoder().decode(new Uint8Array(data, 2, idLength));
  let offset = 2 + idLength;
  const sequence = view.getUint32(offset);
  const captureMicros = view.getFloat64(offset + 4);
  const jpegLength = view.getUint32(offset + 12);
  offset += 16;
  return { camera, sequence, captureMicros, jpeg: new Uint8Array(data, offset, jpegLength) };
}

export type LinkState = 'connecting' | 'open' | 'closed';

/**
 * `url` with the page's own `?access_token=` (a dashboard opened with a bearer
 * token passes it on: EventSource and WebSocket cannot send an Authorization header).
 */
export function withPageToken(url: string): string {
  const token = new URLSearchParams(location.search).get('access_token');
  if (token === null) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}

/**
 * The dashboard's one /ws connection: keeps the wanted cameras subscribed across
 * reconnects and hands each frame to `onFrame`.
 */
export class LiveFrames {
  private socket: WebSocket | undefined;
  private readonly wanted = new Set<string>();
  private retryMs = 500;

  constructor(
    private readonly onFrame: (message: FrameMessage) => void,
    private readonly onState: (state: LinkState, detail?: string) => void,
  ) {}

  connect(): void {
    const url = new URL(withPageToken('/ws'), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.onState('connecting');
    socket.addEventListener('open', () => {
      this.retryMs = 500;
      this.onState('open');
      if (this.wanted.size > 0) this.send({ type: 'subscribe', cameras: [...this.wanted] });
    });
    socket.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data === 'string') {
        const message = JSON.parse(event.data) as { type: string; message?: string };
        if (message.type === 'error') console.warn(`camstream /ws: ${message.message ?? ''}`);
        return;
      }
      this.onFrame(decodeFrameMessage(event.data));
    });
    socket.addEventListener('close', (event) => {
      this.onState('closed', event.reason);
      // The server restarted or went away: try again, less often each time.
      window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    });
  }

  /** Starts or stops one camera's frames. */
  want(camera: string, on: boolean): void {
    if (on === this.wanted.has(camera)) return;
    if (on) this.wanted.add(camera);
    else this.wanted.delete(camera);
    this.send({ type: on ? 'subscribe' : 'unsubscribe', cameras: [camera] });
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}

/**
 * One camera's canvas. Decoding is asynchronous: while one frame decodes, only the
 * newest that arrives meanwhile waits (the latest wins here too), so a slow device
 * shows fewer frames, never older ones.
 */
export class CanvasView {
  frames = 0;
  private decoding = false;
  private waiting: FrameMessage | undefined;
  private readonly context: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly readout: HTMLElement,
  ) {
    const context = canvas.getContext('2d');
    if (context === null) throw new Error('this browser cannot draw on a canvas');
    this.context = context;
  }

  show(message: FrameMessage): void {
    if (this.decoding) {
      this.waiting = message;
      return;
    }
    this.decoding = true;
    createImageBitmap(new Blob([message.jpeg], { type: 'image/jpeg' })).then(
      (bitmap) => {
        this.draw(bitmap, message);
        this.next();
      },
      () => this.next(),
    );
  }

  private next(): void {
    this.decoding = false;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) this.show(waiting);
  }

  private draw(bitmap: ImageBitmap, message: FrameMessage): void {
    if (this.canvas.width !== bitmap.width || this.canvas.height !== bitmap.height) {
      this.canvas.width = bitmap.width;
      this.canvas.height = bitmap.height;
    }
    this.context.drawImage(bitmap, 0, 0);
    bitmap.close();
    this.frames++;
    const behindMs = Date.now() - message.captureMicros / 1000;
    // For people reading the DOM (and the browser tests): what is on the canvas.
    this.canvas.dataset.frames = String(this.frames);
    this.canvas.dataset.sequence = String(message.sequence);
    this.canvas.dataset.captureMicros = String(message.captureMicros);
    this.readout.textContent = `frame ${message.sequence} · ${behindMs < 10 ? behindMs.toFixed(1) : behindMs.toFixed(0)} ms behind`;
  }
}
