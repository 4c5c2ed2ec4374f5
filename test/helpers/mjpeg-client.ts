import net from 'node:net';
import { nowMicros } from './mjpeg-reader.js';
import { HANG_MS, WaitTimeoutError } from './server.js';

/** One multipart part as a client received it. */
export interface ReceivedPart {
  headers: Record<string, string>;
  jpeg: Buffer;
  /** Wall clock when the part's last byte arrived, in µs. */
  receivedMicros: number;
}

export interface MjpegClient {
  /** The response's status line and header fields (lower-case names). */
  readonly head: Promise<{ statusLine: string; headers: Record<string, string> }>;
  readonly parts: ReceivedPart[];
  /**
   * Resolves once `count` parts have arrived; rejects when the stream fails, or with a
   * WaitTimeoutError after `timeoutMs` (default HANG_MS: only a hang gets there).
   */
  waitForParts(count: number, timeoutMs?: number): Promise<ReceivedPart[]>;
  readonly socket: net.Socket;
  close(): void;
}

/**
 * A deliberately plain MJPEG client for tests: a raw socket and a parser that
 * finds each part's end from its Content-Length, then checks that the bytes after
 * the JPEG are the boundary line, as a player would.
 */
export function connectMjpeg(url: string, path = '/stream', requestLine?: string): MjpegClient {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(requestLine ?? `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nUser-Agent: camstream-test\r\n\r\n`);
  const parts: ReceivedPart[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let boundary = '';
  let resolveHead!: (value: { statusLine: string; headers: Record<string, string> }) => void;
  let rejectHead!: (error: Error) => void;
  const head = new Promise<{ statusLine: string; headers: Record<string, string> }>((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  head.catch(() => {});
  let headDone = false;
  const waiters: { count: number; resolve: (parts: ReceivedPart[]) => void; reject: (error: Error) => void }[] = [];
  let failure: Error | undefined;
  let ended = false;
  /** Why no more parts will come: the stream failed, or the connection closed. */
  const endReason = (): Error => failure ?? new Error(`the stream ended after ${parts.length} parts`);

  const fail = (error: Error): void => {
    failure ??= error;
    if (!headDone) rejectHead(error);
    socket.destroy();
  };

  const parse = (): void => {
    for (;;) {
      if (!headDone) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = pending.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines.shift() ?? '';
        const headers = parseHeaderLines(lines);
        pending = pending.subarray(end + 4);
        headDone = true;
        resolveHead({ statusLine, headers });
        const match = /boundary=([^;\s]+)/.exec(headers['content-type'] ?? '');
        if (match === null) return fail(new Error(`not a multipart response: ${statusLine} ${headers['content-type']}`));
        boundary = match[1] as string;
        const first = `--${boundary}\r\n`;
        if (pending.length < first.length) return;
        if (pending.subarray(0, first.length).toString('latin1') !== first) return fail(new Error('stream does not start with the boundary'));
        pending = pending.subarray(first.length);
        continue;
      }
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers = parseHeaderLines(pending.subarray(0, end).toString('latin1').split('\r\n'));
      const length = Number(headers['content-length']);
      if (!Number.isInteger(length)) return fail(new Error(`part without Content-Length: ${JSON.stringify(headers)}`));
      const trailer = `\r\n--${boundary}\r\n`;
      const total = end + 4 + length + trailer.length;
      if (pending.length < total) return;
      const jpeg = Buffer.from(pending.subarray(end + 4, end + 4 + length));
      if (pending.subarray(end + 4 + length, total).toString('latin1') !== trailer) return fail(new Error('part is not followed by the boundary'));
      pending = pending.subarray(total);
      parts.push({ headers, jpeg, receivedMicros: nowMicros() });
      for (let i = waiters.length - 1; i >= 0; i--) {
        const waiter = waiters[i] as (typeof waiters)[number];
        if (parts.length >= waiter.count) {
          waiters.splice(i, 1);
          waiter.resolve(parts);
        }
      }
    }
  };

  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    parse();
  });
  socket.on('error', (error) => fail(error));
  // No more parts will come: a waiter fails now rather than at its timeout.
  socket.on('close', () => {
    ended = true;
    for (const waiter of waiters.splice(0)) waiter.reject(endReason());
  });

  return {
    head,
    parts,
    socket,
    waitForParts(count: number, timeoutMs = HANG_MS): Promise<ReceivedPart[]> {
      if (failure) return Promise.reject(failure);
      if (parts.length >= count) return Promise.resolve(parts);
      if (ended) return Promise.reject(endReason());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(failure ?? new WaitTimeoutError(`${count} parts arrived (only ${parts.length} did)`, timeoutMs)), timeoutMs);
        waiters.push({
          count,
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
      });
    },
    close(): void {
      socket.destroy();
    },
  };
}

function parseHeaderLines(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** True when `bytes` look like one whole JPEG: SOI at the start, EOI at the end. */
export function isWholeJpeg(bytes: Buffer): boolean {
  return bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
}
