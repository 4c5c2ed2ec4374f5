import type { WebSocket } from 'ws';

/** Bytes one WebSocket connection may have queued in user space, all its cameras together. */
export const WS_IN_FLIGHT_BYTES = 512 * 1024;

/** A slot that waits for room on its connection (see SendGate). */
export interface ParkedSlot {
  transmitParked(): void;
}

/**
 * One connection's budget of bytes in flight, shared by its cameras' slots. Each
 * slot sends one frame at a time already; this bounds them together, so a tab that
 * stops reading holds at most about this many bytes in Node however many cameras it
 * watches. A slot that finds no room parks (its frame stays a pooled reference,
 * not a copy) and goes out, oldest first, as earlier sends complete.
 */
export class SendGate {
  private readonly parked: ParkedSlot[] = [];

  constructor(
    private readonly socket: Pick<WebSocket, 'bufferedAmount'>,
    private readonly limitBytes = WS_IN_FLIGHT_BYTES,
  ) {}

  /** Whether a slot may send now: room left, and nobody waiting before it. */
  get open(): boolean {
    return this.parked.length === 0 && this.socket.bufferedAmount < this.limitBytes;
  }

  park(slot: ParkedSlot): void {
    this.parked.push(slot);
  }

  /** A send completed (or failed): parked slots go, oldest first, while there is room. */
  drained(): void {
    while (this.parked.length > 0 && this.socket.bufferedAmount < this.limitBytes) (this.parked.shift() as ParkedSlot).transmitParked();
  }

  /** A parked slot closed: it no longer waits. */
  remove(slot: ParkedSlot): void {
    const index = this.parked.indexOf(slot);
    if (index >= 0) this.parked.splice(index, 1);
  }
}
