// GRE (IP protocol 47) tunnel port through the raw-socket package: Ethernet frames with the tunnel
// key in the GRE key field, optional checksum (DESIGN: Tunnels; RFC 2784, RFC 2890; STACK-NOTES).
import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';
import { IPPROTO_GRE } from '../packet/constants.js';
import { parseIp4 } from '../packet/addr.js';
import { decodeGre, greHeaderLength, isGreDecodeError, stripIp4Header, writeGreHeader } from './tunnel-gre-codec.js';
import { deliverTunnelBatch, tunnelSendQueue } from './tunnel-port-plumbing.js';
import type { TunnelSendQueue } from './tunnel-send-queue.js';
import {
  TUNNEL_MIN_INNER_FRAME,
  type TunnelFrame,
  TunnelError,
  type TunnelPort,
  type TunnelStats,
  emptyTunnelStats,
  isValidTunnelKey,
  receivedTunnelIp,
  remoteSet,
} from './tunnel-port.js';

export interface GreTunnelOptions {
  /**
   * The local underlay address; its family picks the raw socket (IPv4 or IPv6). Default '0.0.0.0'.
   * A raw socket receives every GRE packet of the namespace: with a specific IPv4 address, packets
   * to other local addresses are ignored (not counted; another port may own them). Sent packets
   * take the source address the kernel's route gives (raw-socket cannot bind).
   */
  localAddress?: string;
  /** Send with the GRE checksum (C bit). Received checksums are verified whenever present. Default false. */
  checksum?: boolean;
  /** Underlay sources to accept; others count as unknownRemoteDropped. Default: any. */
  remotes?: Iterable<string>;
  /** Frames handed to one onFrames call at most (also the datagrams read a wake-up). Default 256. */
  maxBatch?: number;
  /** Frames sent before yielding to the event loop. Default 128. */
  sendChunk?: number;
  /** Frames waiting to be sent at most. Default 65536. */
  maxQueuedFrames?: number;
  /** SO_RCVBUF in bytes. */
  recvBufferSize?: number;
}

// The part of raw-socket 1.8 used here. `wrap` (the native socket) is not documented, but it is
// what lets a batch be sent and a backlog be read in one turn instead of one datagram a poll.
interface RawSocketWrap {
  send(buf: Buffer, offset: number, length: number, address: string, cb: (bytes: number) => void): void;
  recv(buf: Buffer, cb: (buf: Buffer, bytes: number, source: string) => void): void;
}
interface RawSocket {
  readonly wrap?: RawSocketWrap;
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  on(event: 'close', cb: () => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, cb: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily: number; bufferSize: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  SocketLevel: { SOL_SOCKET: number };
  SocketOption: { SO_RCVBUF: number };
}

let rawSocket: RawSocketModule | undefined;

/** raw-socket, loaded on first use so that importing this module never needs its native build. */
function loadRawSocket(): RawSocketModule {
  if (rawSocket === undefined) {
    try {
      rawSocket = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TunnelError(`raw-socket not loadable (run npm ci): ${why}`, 'ENOADDON', 'gre');
    }
  }
  return rawSocket;
}

// raw-socket throws Error(strerror(errno)) without the errno: map back the ones that matter.
const ERRNO_BY_TEXT: Record<string, string> = {
  'Resource temporarily unavailable': 'EAGAIN',
  'No buffer space available': 'ENOBUFS',
  'Message too long': 'EMSGSIZE',
  'Network is unreachable': 'ENETUNREACH',
  'No route to host': 'EHOSTUNREACH',
  'Operation not permitted': 'EPERM',
  'Permission denied': 'EACCES',
  'Invalid argument': 'EINVAL',
};

function errnoOf(err: unknown): string {
  const text = (err as { message?: unknown } | null)?.message;
  return (typeof text === 'string' && ERRNO_BY_TEXT[text]) || 'EUNKNOWN';
}

/**
 * Open ports, held strongly: raw-socket's native socket keeps no reference to its JS object while
 * it polls, so a port nobody else referenced would be garbage-collected, closing its socket.
 */
const openPorts = new Set<GreTunnelPort>();

/** The largest IP datagram: a received one is never cut short. */
const MAX_DATAGRAM = 65535;

export class GreTunnelPort implements TunnelPort {
  readonly kind = 'gre';
  readonly localAddress: string;
  readonly localPort = undefined;
  readonly #family: 4 | 6;
  /** The IPv4 destination received packets must carry; undefined for any (wildcard or IPv6). */
  readonly #localIp4: number | undefined;
  readonly #checksum: boolean;
  readonly #socket: RawSocket;
  readonly #wrap: RawSocketWrap | undefined;
  readonly #stats: TunnelStats = emptyTunnelStats();
  readonly #queue: TunnelSendQueue;
  readonly #maxBatch: number;
  readonly #drainBuffer = Buffer.allocUnsafe(MAX_DATAGRAM);
  #remotes: Set<string> | undefined;
  #onFrames: ((batch: TunnelFrame[]) => void) | undefined;
  #onError: ((err: TunnelError) => void) | undefined;
  #pending: TunnelFrame[] = [];
  #closed = false;

  private constructor(socket: RawSocket, localAddress: string, family: 4 | 6, opts: GreTunnelOptions) {
    this.#socket = socket;
    this.#wrap = socket.wrap;
    this.localAddress = localAddress;
    this.#family = family;
    const ip4 = family === 4 ? parseIp4(localAddress) : undefined;
    this.#localIp4 = ip4 === 0 ? undefined : ip4;
    this.#checksum = opts.checksum ?? false;
    this.#remotes = remoteSet(opts.remotes);
    this.#maxBatch = opts.maxBatch ?? 256;
    this.#queue = tunnelSendQueue(opts, this.#stats, (frames, start, end) => this.#transmit(frames, start, end));
    socket.on('message', (buf, source) => this.#onMessage(buf, source));
    socket.on('error', (err) => this.#onError?.(new TunnelError(`raw socket: ${err.message}`, errnoOf(err), 'gre')));
    openPorts.add(this);
  }

  /** Opens a raw IP socket for protocol 47; throws TunnelError (EPERM without CAP_NET_RAW). */
  static async open(opts: GreTunnelOptions = {}): Promise<GreTunnelPort> {
    const localAddress = opts.localAddress ?? '0.0.0.0';
    const family = isIPv6(localAddress) ? 6 : isIPv4(localAddress) ? 4 : undefined;
    if (family === undefined) throw new TunnelError(`not an IP address: ${localAddress}`, 'EINVAL', 'gre');
    const raw = loadRawSocket();
    let socket: RawSocket;
    try {
      socket = raw.createSocket({
        protocol: IPPROTO_GRE,
        addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
        bufferSize: MAX_DATAGRAM,
      });
    } catch (err) {
      throw new TunnelError(`raw socket for GRE: ${(err as Error).message}`, errnoOf(err), 'gre');
    }
    try {
      if (opts.recvBufferSize !== undefined) {
        socket.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_RCVBUF, opts.recvBufferSize);
      }
    } catch (err) {
      socket.close();
      throw new TunnelError(`SO_RCVBUF: ${(err as Error).message}`, errnoOf(err), 'gre');
    }
    return new GreTunnelPort(socket, localAddress, family, opts);
  }

  send(frames: readonly TunnelFrame[]): Promise<number> {
    return this.#queue.enqueue(frames);
  }

  onFrames(cb: (batch: TunnelFrame[]) => void): void {
    this.#onFrames = cb;
  }

  onError(cb: (err: TunnelError) => void): void {
    this.#onError = cb;
  }

  setRemotes(remotes: Iterable<string> | undefined): void {
    this.#remotes = remoteSet(remotes);
  }

  stats(): TunnelStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onFrames = undefined;
    await this.#queue.close();
    await new Promise<void>((resolve) => {
      this.#socket.on('close', resolve);
      this.#socket.close();
    });
    openPorts.delete(this);
  }

  #encode(f: TunnelFrame): Buffer | undefined {
    if (!isValidTunnelKey(f.tunnelKey) || !(f.innerFrame instanceof Uint8Array) || f.innerFrame.length < TUNNEL_MIN_INNER_FRAME) {
      return undefined;
    }
    const ok = this.#family === 4 ? isIPv4(f.remoteIp) : isIPv6(f.remoteIp);
    if (!ok) return undefined;
    const hl = greHeaderLength(this.#checksum);
    const pkt = Buffer.allocUnsafe(hl + f.innerFrame.length);
    pkt.set(f.innerFrame, hl);
    writeGreHeader(pkt, 0, pkt.length, f.tunnelKey, this.#checksum);
    return pkt;
  }

  #transmit(frames: readonly TunnelFrame[], start: number, end: number): number | Promise<number> {
    let sent = 0;
    for (let i = start; i < end; i++) {
      const f = frames[i]!;
      const pkt = this.#encode(f);
      if (pkt === undefined) {
        this.#stats.sendErrors++;
        continue;
      }
      if (this.#wrap === undefined) return this.#sendWhenWritable(pkt, f.remoteIp, frames, i, end, sent);
      try {
        this.#wrap.send(pkt, 0, pkt.length, f.remoteIp, noop);
        this.#stats.sent++;
        sent++;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'EAGAIN' || code === 'ENOBUFS') return this.#sendWhenWritable(pkt, f.remoteIp, frames, i, end, sent);
        this.#stats.sendErrors++;
      }
    }
    return sent;
  }

  /** The socket buffer is full: raw-socket's own queue sends pkt once the socket is writable, then the rest follows. */
  async #sendWhenWritable(
    pkt: Buffer,
    remoteIp: string,
    frames: readonly TunnelFrame[],
    i: number,
    end: number,
    sentBefore: number,
  ): Promise<number> {
    const ok = await new Promise<boolean>((resolve) => this.#socket.send(pkt, 0, pkt.length, remoteIp, (err) => resolve(err === null)));
    if (ok) this.#stats.sent++;
    else this.#stats.sendErrors++;
    const rest = this.#closed ? 0 : await this.#transmit(frames, i + 1, end);
    return sentBefore + (ok ? 1 : 0) + rest;
  }

  #onMessage(first: Buffer, source: string): void {
    if (this.#closed) return;
    this.#receive(first, source);
    // raw-socket reads one datagram a poll wake-up; read the backlog here so that a burst makes
    // batches. recvfrom on the non-blocking socket throws EAGAIN once it is empty.
    if (this.#wrap !== undefined) {
      const onDatagram = (buf: Buffer, bytes: number, src: string): void => this.#receive(buf.subarray(0, bytes), src);
      for (let n = 1; n < this.#maxBatch; n++) {
        try {
          this.#wrap.recv(this.#drainBuffer, onDatagram);
        } catch {
          break;
        }
      }
    }
    this.#flush();
  }

  /** buf is raw-socket's (or our) receive buffer, reused by the next read: keep copies only. */
  #receive(buf: Buffer, source: string): void {
    // IPv6 raw sockets deliver the payload without the IPv6 header (RFC 3542 3); IPv4 ones with it.
    let start = 0;
    let end = buf.length;
    if (this.#family === 4) {
      const ip = stripIp4Header(buf);
      if (isGreDecodeError(ip)) {
        this.#stats.malformedDropped++;
        return;
      }
      if (this.#localIp4 !== undefined && ip.dst !== this.#localIp4) return;
      start = ip.start;
      end = ip.end;
    }
    const remoteIp = receivedTunnelIp(source);
    if (this.#remotes !== undefined && !this.#remotes.has(remoteIp)) {
      this.#stats.unknownRemoteDropped++;
      return;
    }
    const d = decodeGre(buf, start, end);
    if (isGreDecodeError(d)) {
      this.#stats.malformedDropped++;
      return;
    }
    if (this.#onFrames === undefined) {
      this.#stats.unhandledDropped++;
      return;
    }
    // A copy (Buffer's subarray and slice are both views into the reused buffer).
    this.#pending.push({ innerFrame: new Uint8Array(d.inner), tunnelKey: d.key, remoteIp });
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    deliverTunnelBatch(batch, this.#onFrames, this.#stats);
  }
}

function noop(): void {}

/** Opens a GRE tunnel port (see GreTunnelPort.open). */
export function openGreTunnel(opts: GreTunnelOptions = {}): Promise<GreTunnelPort> {
  return GreTunnelPort.open(opts);
}
