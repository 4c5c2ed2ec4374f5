/** Bounds on streaming connections (MJPEG streams and WebSockets), in all and per client address. */
export interface StreamLimits {
  /** Streaming connections at once, all clients. Default: no bound. */
  maxViewers?: number | undefined;
  /** Streaming connections at once from one client address. Default: no bound. */
  maxViewersPerClient?: number | undefined;
}

/** How long a refused client is told to wait (Retry-After, seconds). */
export const RETRY_AFTER_SECONDS = 10;

/**
 * Counts open streaming connections by client address and refuses new ones over
 * the limits, so one client (or a crowd) cannot take every socket and every byte
 * of bandwidth. A stream counts from its admission until `leave` (its socket closed,
 * wherever it was served: the main thread or a viewer loop).
 */
export class StreamAdmission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: StreamLimits = {}) {}

  get open(): number {
    return this.total;
  }

  /** Why a new stream from `address` is refused, or undefined: it is admitted and counted (call leave once). */
  admit(address: string): string | undefined {
    const { maxViewers, maxViewersPerClient } = this.limits;
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (maxViewers !== undefined && this.total >= maxViewers) return `the server is at its limit of ${maxViewers} streaming connections (max-viewers); try again later`;
    if (maxViewersPerClient !== undefined && fromAddress >= maxViewersPerClient) return `${address} already has ${fromAddress} streaming connections, the limit per client (max-viewers-per-client); close one first`;
    this.total++;
    this.byAddress.set(address, fromAddress + 1);
    return undefined;
  }

  leave(address: string): void {
    const fromAddress = this.byAddress.get(address);
    if (fromAddress === undefined) return;
    this.total--;
    if (fromAddress <= 1) this.byAddress.delete(address);
    else this.byAddress.set(address, fromAddress - 1);
  }
}

/** The address part of a `remote` as camstream writes it (`address:port`, IPv6 included). */
export function addressOf(remote: string): string {
  const colon = remote.lastIndexOf(':');
  return colon < 0 ? remote : remote.slice(0, colon);
}
