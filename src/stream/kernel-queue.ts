/**
 * The kernel's send queue of a viewer's TCP socket: bound it, and read how much of
 * it is still unsent.
 *
 * Why: a Viewer writes a frame only once the previous write has completed, but
 * "completed" means the kernel accepted the bytes, and Linux auto-tunes a TCP send
 * buffer up to net.ipv4.tcp_wmem's maximum (4 MB here). A viewer on a 2 MB/s link
 * therefore keeps seconds of video queued in the server's own kernel (issue #4).
 * Node 20 has no API for socket options or SIOCOUTQ, so this module calls libc's
 * setsockopt/getsockopt/ioctl through koffi (an FFI package whose npm install
 * carries prebuilt binaries), loaded lazily and only on Linux. Anywhere else, or
 * when koffi cannot load, `openKernelQueue()` returns a queue with `available:
 * false` and the reason, whose methods do nothing: the caller logs one warning
 * and streams as before.
 *
 * Verified on Linux 6.18 x86_64 (test/kernel-queue.test.ts):
 * - SO_SNDBUF set on the listening socket is inherited by every accepted socket,
 *   and so is TCP_NOTSENT_LOWAT; setting them once on the server is enough.
 * - The kernel doubles SO_SNDBUF (its bookkeeping overhead) and clamps the request
 *   to net.core.wmem_max first; `setSendBuffer` returns what getsockopt reports.
 * - Setting SO_SNDBUF turns off send-buffer auto-tuning for that socket.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';
import type * as Koffi from 'koffi';

/** A socket, or a listening server whose options its accepted sockets inherit. */
export type SocketOrServer = net.Socket | net.Server;

export interface KernelQueue {
  /** False off Linux, on an unknown ABI, or when koffi cannot load; every method then does nothing. */
  readonly available: boolean;
  /** Why it is unavailable, for the caller's one warning; undefined when available. */
  readonly reason: string | undefined;
  /**
   * Sets SO_SNDBUF (bytes of the kernel's send queue, which also stops its
   * auto-tuning). Returns the size the kernel then reports (Linux doubles the
   * request, after clamping it to net.core.wmem_max), or undefined when it failed
   * or is unavailable.
   */
  setSendBuffer(target: SocketOrServer, bytes: number): number | undefined;
  /** SO_SNDBUF as the kernel reports it now (the auto-tuned size if it was never set). */
  sendBufferSize(target: SocketOrServer): number | undefined;
  /**
   * Sets TCP_NOTSENT_LOWAT: the kernel then takes new bytes from a write only
   * while fewer than `bytes` are unsent, so a write's completion means the
   * previous frame is nearly on the wire, whatever SO_SNDBUF is. Bytes in flight
   * (sent, not yet acknowledged) are not limited, so fast links keep their speed.
   * False when it failed or is unavailable.
   */
  setNotSentLowat(target: SocketOrServer, bytes: number): boolean;
  /** TCP_NOTSENT_LOWAT as set on this socket; 0 means the sysctl net.ipv4.tcp_notsent_lowat applies. */
  notSentLowat(target: SocketOrServer): number | undefined;
  /**
   * Bytes the kernel holds for this socket that it has not yet sent (SIOCOUTQNSD).
   * This is the backpressure signal for "how far behind is this viewer": it is
   * the queue this server itself built, which only grows when the viewer's link
   * cannot take more. SIOCOUTQ (`unackedBytes`) also counts bytes already in
   * flight, which a fast link with a long round trip needs in flight to keep its
   * speed (bandwidth × delay), so it would also flag healthy distant viewers.
   * Cheap enough to call per frame: one ioctl, no allocation.
   */
  unsentBytes(socket: net.Socket): number | undefined;
  /** Bytes in the send queue not yet acknowledged by the peer, sent or not (SIOCOUTQ = TIOCOUTQ). */
  unackedBytes(socket: net.Socket): number | undefined;
  /**
   * A second file descriptor for the socket (dup(2)), for handing the connection to
   * another thread, which opens it with `new net.Socket({ fd })`; the caller then
   * destroys its own socket, which closes only its descriptor. Undefined on failure.
   */
  duplicate(socket: net.Socket): number | undefined;
  /**
   * Reads the socket's TCP state (getsockopt TCP_INFO) into `out`: what the peer
   * acknowledged, what the kernel holds unsent or in flight, and the room the peer
   * advertises in its receive buffer. False when unavailable (not Linux, no koffi, a
   * kernel older than 5.4 without the window field, or no descriptor).
   * Two syscalls (getsockopt, ioctl SIOCOUTQ) into buffers allocated once: cheap
   * enough to call a few times a second per viewer.
   */
  readLink(socket: SocketOrServer, out: LinkSample): boolean;
  /**
   * Whether readLink can work on this socket's connections: the kernel's struct tcp_info
   * reaches the window field (Linux 5.4+). Asks getsockopt alone, so it answers for a
   * listening socket too, where SIOCOUTQ (readLink's second call) is refused.
   */
  canReadLink(socket: SocketOrServer): boolean;
}

/**
 * One reading of a TCP connection from the sending side (Linux struct tcp_info).
 * Byte counts are since the connection opened.
 */
export interface LinkSample {
  /** Bytes the peer acknowledged: in its receive buffer or already read by its application. */
  bytesAcked: number;
  /** Bytes the kernel took from this socket's writes: acknowledged, in flight or not yet sent. */
  bytesTaken: number;
  /** Room the peer advertises in its receive buffer (bytes): shrinks while its reader falls behind. */
  receiveWindow: number;
  /** The smallest round trip seen, microseconds. */
  minRttUs: number;
  /** Largest segment the peer takes (bytes): a receiver reopens its window in steps of about this. */
  mss: number;
  /** Bytes sent again (losses, timeouts): a stretch with retransmissions says little of the link's rate. */
  bytesRetransmitted: number;
}

export function emptyLinkSample(): LinkSample {
  return { bytesAcked: 0, bytesTaken: 0, receiveWindow: 0, minRttUs: 0, mss: 0, bytesRetransmitted: 0 };
}

export interface KernelQueueOptions {
  /** Loads koffi. Default: require('koffi'). Tests hand in one that throws to check the fallback. */
  loadKoffi?: () => typeof Koffi;
}

// Linux's generic ABI values. They differ on mips, sparc, parisc, alpha and
// powerpc (TIOCOUTQ there is 0x40047473 or 0x7472), so only these arches are used.
const GENERIC_ABI_ARCHES: ReadonlySet<string> = new Set(['x64', 'arm64', 'arm', 'ia32', 'riscv64', 'loong64']);
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;
const TCP_INFO = 11;
/**
 * Offsets in Linux's struct tcp_info (include/uapi/linux/tcp.h), stable since they
 * were added: fields are only ever appended. tcpi_snd_wnd (Linux 5.4) is the last
 * one read, so a shorter answer means an older kernel.
 */
const TCPI = { sndMss: 16, bytesAcked: 120, minRtt: 148, bytesRetrans: 208, sndWnd: 228, size: 232 } as const;
/** SIOCOUTQ = TIOCOUTQ: bytes not yet acknowledged. */
const SIOCOUTQ = 0x5411;
/** Bytes not yet sent. */
const SIOCOUTQNSD = 0x894b;

type Ioctl = (fd: number, request: number, out: Int32Array) => number;
type SetSockOpt = (fd: number, level: number, name: number, value: Int32Array, length: number) => number;
type GetSockOpt = (fd: number, level: number, name: number, value: Int32Array | Uint8Array, length: Uint32Array) => number;
type Dup = (fd: number) => number;

/**
 * The file descriptor under a socket or listening server, or undefined.
 *
 * This reads Node's internal `_handle.fd` (libuv's fd on Unix); Node exposes no
 * public way. It is undefined when there is no handle (not yet connected or
 * listening, destroyed), and -1 (so undefined here) on Windows, and for a
 * server in a cluster worker under round-robin scheduling, whose handle is a
 * stand-in: set options on the accepted sockets there instead. A TLS socket's
 * handle is its TLS wrap, not the TCP one, so it is not supported either.
 */
export function socketFd(target: SocketOrServer): number | undefined {
  const fd = (target as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Opens the kernel queue functions: loads koffi now, synchronously, once per call. */
export function openKernelQueue(options: KernelQueueOptions = {}): KernelQueue {
  if (process.platform !== 'linux') return unavailable(`socket queue control is implemented for Linux only, not ${process.platform}`);
  if (!GENERIC_ABI_ARCHES.has(process.arch)) return unavailable(`socket option and ioctl numbers are not known for ${process.arch}`);
  let koffi: typeof Koffi;
  try {
    koffi = (options.loadKoffi ?? requireKoffi)();
  } catch (error) {
    return unavailable(`koffi could not be loaded: ${messageOf(error)}`);
  }
  try {
    const libc = openLibc(koffi);
    // ioctl is variadic in C; on these ABIs an int pointer passed as a fixed third
    // argument is passed exactly as the variadic one, and this avoids koffi's slower
    // variadic calls. Typed arrays are passed as pointers to their memory.
    return new LinuxKernelQueue(
      libc.func('int ioctl(int fd, unsigned long request, void *out)') as Ioctl,
      libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)') as SetSockOpt,
      libc.func('int getsockopt(int fd, int level, int name, void *value, void *length)') as GetSockOpt,
      libc.func('int dup(int fd)') as Dup,
    );
  } catch (error) {
    return unavailable(`libc functions could not be bound: ${messageOf(error)}`);
  }
}

function requireKoffi(): typeof Koffi {
  // require, not import(): it keeps openKernelQueue synchronous, and koffi ships CommonJS.
  return createRequire(import.meta.url)('koffi') as typeof Koffi;
}

/** glibc's soname; else the process's own symbols (musl, where libc is the loader). */
function openLibc(koffi: typeof Koffi): Koffi.LibraryHandle {
  try {
    return koffi.load('libc.so.6');
  } catch {
    return koffi.load(null);
  }
}

class LinuxKernelQueue implements KernelQueue {
  readonly available = true;
  readonly reason = undefined;
  /** One int for every call's value: calls are synchronous, so one is enough and none allocates. */
  private readonly value = new Int32Array(1);
  private readonly length = new Uint32Array(1);
  /** One struct tcp_info for every readLink (synchronous), read through a view that allocates nothing. */
  private readonly info = new Uint8Array(TCPI.size);
  private readonly infoView = new DataView(this.info.buffer);

  constructor(
    private readonly ioctl: Ioctl,
    private readonly setsockopt: SetSockOpt,
    private readonly getsockopt: GetSockOpt,
    private readonly dup: Dup,
  ) {}

  canReadLink(socket: SocketOrServer): boolean {
    const fd = socketFd(socket);
    return fd !== undefined && this.readInfo(fd);
  }

  /** struct tcp_info into `info`; false when the call fails or the kernel's struct stops before the window field. */
  private readInfo(fd: number): boolean {
    this.length[0] = TCPI.size;
    return this.getsockopt(fd, IPPROTO_TCP, TCP_INFO, this.info, this.length) === 0 && (this.length[0] as number) >= TCPI.size;
  }

  readLink(socket: SocketOrServer, out: LinkSample): boolean {
    const fd = socketFd(socket);
    if (fd === undefined || !this.readInfo(fd)) return false;
    const view = this.infoView;
    out.bytesAcked = u64(view, TCPI.bytesAcked);
    // Acknowledged plus what the send queue still holds (SIOCOUTQ: in flight or unsent), exact.
    // Not bytes_sent − bytes_retrans + unsent: a tail loss probe or other retransmission
    // counted in one and not the other leaves that off by a segment for good.
    if (this.ioctl(fd, SIOCOUTQ, this.value) !== 0) return false;
    out.bytesTaken = u64(view, TCPI.bytesAcked) + (this.value[0] as number);
    out.receiveWindow = view.getUint32(TCPI.sndWnd, true);
    out.minRttUs = view.getUint32(TCPI.minRtt, true);
    out.mss = view.getUint32(TCPI.sndMss, true);
    out.bytesRetransmitted = u64(view, TCPI.bytesRetrans);
    return true;
  }

  setSendBuffer(target: SocketOrServer, bytes: number): number | undefined {
    if (!this.setInt(target, SOL_SOCKET, SO_SNDBUF, bytes)) return undefined;
    return this.getInt(target, SOL_SOCKET, SO_SNDBUF);
  }

  sendBufferSize(target: SocketOrServer): number | undefined {
    return this.getInt(target, SOL_SOCKET, SO_SNDBUF);
  }

  setNotSentLowat(target: SocketOrServer, bytes: number): boolean {
    return this.setInt(target, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes);
  }

  notSentLowat(target: SocketOrServer): number | undefined {
    return this.getInt(target, IPPROTO_TCP, TCP_NOTSENT_LOWAT);
  }

  unsentBytes(socket: net.Socket): number | undefined {
    return this.readQueue(socket, SIOCOUTQNSD);
  }

  unackedBytes(socket: net.Socket): number | undefined {
    return this.readQueue(socket, SIOCOUTQ);
  }

  duplicate(socket: net.Socket): number | undefined {
    const fd = socketFd(socket);
    if (fd === undefined) return undefined;
    const copy = this.dup(fd);
    return copy >= 0 ? copy : undefined;
  }

  private readQueue(socket: net.Socket, request: number): number | undefined {
    const fd = socketFd(socket);
    if (fd === undefined) return undefined;
    return this.ioctl(fd, request, this.value) === 0 ? (this.value[0] as number) : undefined;
  }

  private setInt(target: SocketOrServer, level: number, name: number, value: number): boolean {
    const fd = socketFd(target);
    if (fd === undefined || !Number.isInteger(value) || value < 0 || value > 0x7fffffff) return false;
    this.value[0] = value;
    return this.setsockopt(fd, level, name, this.value, 4) === 0;
  }

  private getInt(target: SocketOrServer, level: number, name: number): number | undefined {
    const fd = socketFd(target);
    if (fd === undefined) return undefined;
    this.length[0] = 4;
    return this.getsockopt(fd, level, name, this.value, this.length) === 0 ? (this.value[0] as number) : undefined;
  }
}

/** A little-endian u64 as a double without a BigInt (exact below 2^53 bytes). */
function u64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 0x1_0000_0000;
}

let shared: KernelQueue | undefined;
/** The process's one KernelQueue (koffi loaded on first use), for per-socket reads. */
export function sharedKernelQueue(): KernelQueue {
  shared ??= openKernelQueue();
  return shared;
}

function unavailable(reason: string): KernelQueue {
  return {
    available: false,
    reason,
    setSendBuffer: () => undefined,
    sendBufferSize: () => undefined,
    setNotSentLowat: () => false,
    notSentLowat: () => undefined,
    unsentBytes: () => undefined,
    unackedBytes: () => undefined,
    duplicate: () => undefined,
    readLink: () => false,
    canReadLink: () => false,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
