import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./no-signal-child.js', import.meta.url));
/** The child exits after this long without a request (every camera is back). */
const IDLE_EXIT_MS = 30_000;

export interface NoSignalCard {
  width: number;
  height: number;
  /** The camera's name, shown on the card. */
  camera: string;
  /** The time shown on the card. */
  time: string;
}

/**
 * Renders "no signal" cards (camera name and time) as JPEGs, for viewers of a camera
 * whose source is down. Rendering happens in a child process started on the first
 * request and ended when unused, so the server holds no image library while every
 * camera is fine. Shared by all cameras; at most one card per camera per second.
 */
export class NoSignalRenderer {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (jpeg: Buffer | undefined) => void }>();
  private received: Buffer = Buffer.alloc(0);
  private idleTimer: NodeJS.Timeout | undefined;

  /** The card as a JPEG, or undefined if rendering failed (the caller just skips a card). */
  render(card: NoSignalCard): Promise<Buffer | undefined> {
    const child = this.ensureChild();
    const id = this.nextId++;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    return new Promise((resolve) => {
      this.pending.set(id, { resolve });
      child.stdin?.write(`${JSON.stringify({ id, ...card })}\n`);
    });
  }

  close(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  private ensureChild(): ChildProcess {
    if (this.child !== undefined) return this.child;
    const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    this.received = Buffer.alloc(0);
    child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stdin?.on('error', () => {});
    child.once('close', () => {
      if (this.child === child) this.child = undefined;
      for (const { resolve } of this.pending.values()) resolve(undefined);
      this.pending.clear();
    });
    return child;
  }

  private onData(chunk: Buffer): void {
    // At most one card per camera per second: joining chunks here is cheap.
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    while (this.received.length >= 8) {
      const length = this.received.readUInt32BE(4);
      if (this.received.length < 8 + length) return;
      const id = this.received.readUInt32BE(0);
      const jpeg = this.received.subarray(8, 8 + length);
      this.received = this.received.subarray(8 + length);
      this.pending.get(id)?.resolve(jpeg);
      this.pending.delete(id);
    }
    if (this.pending.size === 0) {
      this.idleTimer = setTimeout(() => this.close(), IDLE_EXIT_MS);
      this.idleTimer.unref();
    }
  }
}
