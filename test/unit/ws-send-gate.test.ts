import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { BufferPool, FrameFactory, type Frame } from '../../src/index.js';
import { FrameHeaderCache } from '../../src/http/ws-message.js';
import { SendGate } from '../../src/http/ws-send-gate.js';
import { WebSocketSink } from '../../src/http/ws-sink.js';

/** Just enough of a ws WebSocket: counts what is queued, completes sends when told. */
class FakeSocket {
  readyState = 1;
  bufferedAmount = 0;
  readonly jpegSends: number[] = [];
  private readonly pending: { bytes: number; done: (error?: Error) => void }[] = [];
  private headerBytes = 0;

  send(data: Buffer, options: { fin: boolean }, done?: (error?: Error) => void): void {
    this.bufferedAmount += data.length;
    if (!options.fin) {
      this.headerBytes = data.length;
      return;
    }
    this.jpegSends.push(data.length);
    if (done !== undefined) this.pending.push({ bytes: this.headerBytes + data.length, done });
  }

  /** The oldest message reached the kernel. */
  complete(): void {
    const next = this.pending.shift();
    assert.ok(next !== undefined, 'a send to complete');
    this.bufferedAmount -= next.bytes;
    next.done();
  }
}

const owner = { abort: (): void => undefined };
const frames = new FrameFactory(new BufferPool());
const frameOf = (bytes: number): Frame => frames.fromJpeg(Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(bytes - 4, 1), Buffer.from([0xff, 0xd9])]));

test('a connection\'s cameras share one budget of bytes in flight; the rest wait, oldest first, as sends complete', () => {
  const socket = new FakeSocket();
  const gate = new SendGate(socket, 100_000);
  const sinks = ['a', 'b', 'c', 'd'].map((id) => new WebSocketSink(socket as unknown as WebSocket, new FrameHeaderCache(id), owner, gate));
  const done: string[] = [];
  for (const sink of sinks) sink.send(frameOf(60_000), (error) => done.push(`${sink.cameraId}${error ? '!' : ''}`));
  assert.equal(socket.jpegSends.length, 2, 'a and b fit (the second starts below the budget); c and d wait');
  assert.ok(socket.bufferedAmount < 100_000 + 60_100, `${socket.bufferedAmount} bytes queued`);

  socket.complete(); // a's bytes left: room for c
  assert.deepEqual(done, ['a']);
  assert.equal(socket.jpegSends.length, 3, 'c went out');
  sinks[0]?.send(frameOf(60_000), (error) => done.push(`a2${error ? '!' : ''}`));
  assert.equal(socket.jpegSends.length, 3, 'a\'s next frame waits: d was waiting first');

  sinks[3]?.detach(); // d unsubscribes while waiting: its viewer gets its frame back at once
  assert.deepEqual(done, ['a', 'd!']);
  socket.complete(); // b
  assert.equal(socket.jpegSends.length, 4, 'a2 went out after b completed');
  socket.complete(); // c
  socket.complete(); // a2
  assert.deepEqual(done, ['a', 'd!', 'b', 'c', 'a2']);
  assert.equal(socket.bufferedAmount, 0);
});
