import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/**
 * Which proxies may say who the client is (X-Forwarded-For): false (default) trusts
 * none, true trusts any (only behind a proxy that overwrites the header), or
 * addresses, CIDR ranges and the names `loopback`, `linklocal`, `uniquelocal`.
 */
export type TrustProxy = boolean | string | readonly string[];

/**
 * A client's `address:port` for logs, stats and per-client limits. Behind nginx every
 * connection comes from nginx; with its address trusted, the client is the last
 * address in X-Forwarded-For that no trusted proxy added (proxy-addr, as fastify).
 */
export class ClientAddress {
  private readonly trust: ((address: string, hop: number) => boolean) | undefined;

  constructor(trustProxy: TrustProxy = false) {
    if (trustProxy === false) this.trust = undefined;
    else if (trustProxy === true) this.trust = () => true;
    else this.trust = proxyAddr.compile(typeof trustProxy === 'string' ? trustProxy.split(',').map((entry) => entry.trim()) : [...trustProxy]);
  }

  remoteOf(request: IncomingMessage): string {
    const socket = request.socket;
    const address = this.trust === undefined ? (socket.remoteAddress ?? '?') : proxyAddr(request, this.trust);
    return `${address}:${socket.remotePort ?? '?'}`;
  }
}
