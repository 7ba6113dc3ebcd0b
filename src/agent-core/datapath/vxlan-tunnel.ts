// VXLAN over UDP in user space (RFC 7348; DESIGN: Tunnels): one node:dgram socket a port, the VNI
// carrying the 24-bit tunnel key, IPv4 or IPv6 underlay; received datagrams batched per wake-up.
import dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { setImmediate as scheduleImmediate } from 'node:timers';
import { VXLAN_PORT_TOLLGATE } from '../packet/constants.js';
import { isDecodeError } from '../packet/errors.js';
import { VXLAN_FLAG_I, VXLAN_HEADER_LEN, decodeVxlan, writeVxlan } from '../packet/vxlan.js';
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

export interface VxlanTunnelOptions {
  /** Address to bind; its family picks the underlay. '::' is dual-stack. Default '0.0.0.0'. */
  localAddress?: string;
  /** UDP port to bind. Default VXLAN_PORT_TOLLGATE (6677); 0 picks a free one. */
  port?: number;
  /** UDP port of the remote endpoints. Default: the port bound. */
  remotePort?: number;
  /** Underlay sources to accept; others count as unknownRemoteDropped. Default: any. */
  remotes?: Iterable<string>;
  /** Frames handed to one onFrames call at most. Default 256. */
  maxBatch?: number;
  /** Frames sent before yielding to the event loop. Default 128. */
  sendChunk?: number;
  /** Frames waiting to be sent at most. Default 65536. */
  maxQueuedFrames?: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel caps them at net.core.rmem_max / wmem_max). */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * Address "resolution" for the socket that never asks DNS: a tunnel remote is always an address,
 * and a malformed one must fail at once as a send error. IPv4 remotes on a dual-stack IPv6 socket
 * become IPv4-mapped addresses.
 */
function literalLookup(family: 4 | 6): (host: string, opts: unknown, cb: LookupCallback) => void {
  return (host, _opts, cb) => {
    if (family === 4 ? isIPv4(host) : isIPv6(host)) cb(null, host, family);
    else if (family === 6 && isIPv4(host)) cb(null, `::ffff:${host}`, 6);
    else {
      const err: NodeJS.ErrnoException = new Error(`not an IPv${family} address: ${host}`);
      err.code = 'EINVAL';
      cb(err, '', family);
    }
  };
}

function tunnelError(err: unknown, what: string): TunnelError {
  const e = err as NodeJS.ErrnoException;
  return new TunnelError(`${what}: ${e?.message ?? String(err)}`, typeof e?.code === 'string' ? e.code : 'EUNKNOWN', 'vxlan');
}

export class VxlanTunnelPort implements TunnelPort {
  readonly kind = 'vxlan';
  readonly localAddress: string;
  readonly localPort: number;
  readonly remotePort: number;
  readonly #socket: dgram.Socket;
  readonly #stats: TunnelStats = emptyTunnelStats();
  readonly #queue: TunnelSendQueue;
  readonly #maxBatch: number;
  #remotes: Set<string> | undefined;
  #onFrames: ((batch: TunnelFrame[]) => void) | undefined;
  #onError: ((err: TunnelError) => void) | undefined;
  #pending: TunnelFrame[] = [];
  #flushScheduled = false;
  #closed = false;

  private constructor(socket: dgram.Socket, opts: VxlanTunnelOptions) {
    this.#socket = socket;
    const addr = socket.address();
    this.localAddress = addr.address;
    this.localPort = addr.port;
    this.remotePort = opts.remotePort ?? addr.port;
    this.#remotes = remoteSet(opts.remotes);
    this.#maxBatch = opts.maxBatch ?? 256;
    this.#queue = tunnelSendQueue(opts, this.#stats, (frames, start, end) => this.#transmit(frames, start, end));
    socket.on('message', (msg, rinfo) => this.#receive(msg, rinfo.address));
    socket.on('error', (err) => this.#onError?.(tunnelError(err, 'socket error')));
  }

  /** Binds the socket; rejects with a TunnelError (EADDRINUSE, EADDRNOTAVAIL, ...). */
  static async open(opts: VxlanTunnelOptions = {}): Promise<VxlanTunnelPort> {
    const localAddress = opts.localAddress ?? '0.0.0.0';
    const family = isIPv6(localAddress) ? 6 : 4;
    if (family === 4 && !isIPv4(localAddress)) throw new TunnelError(`not an IP address: ${localAddress}`, 'EINVAL', 'vxlan');
    const socket = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: literalLookup(family) });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(tunnelError(err, `bind ${localAddress}:${opts.port ?? VXLAN_PORT_TOLLGATE}`));
      socket.once('error', fail);
      socket.bind({ address: localAddress, port: opts.port ?? VXLAN_PORT_TOLLGATE, exclusive: true }, () => {
        socket.off('error', fail);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    try {
      if (opts.recvBufferSize !== undefined) socket.setRecvBufferSize(opts.recvBufferSize);
      if (opts.sendBufferSize !== undefined) socket.setSendBufferSize(opts.sendBufferSize);
    } catch (err) {
      socket.close();
      throw tunnelError(err, 'socket buffer size');
    }
    return new VxlanTunnelPort(socket, opts);
  }

  send(frames: readonly TunnelFrame[]): Promise<number> {
    return this.#queue.enqueue(frames);
  }

  onFrames(cb: (batch: TunnelFrame[]) => void): void {
    this.#onFrames = cb;
  }

  /** Socket errors after open (rare for UDP: Linux reports no ICMP errors on unconnected sockets). */
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
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #transmit(frames: readonly TunnelFrame[], start: number, end: number): Promise<number> {
    const stats = this.#stats;
    // One buffer for the chunk's headers; each datagram is [header, inner] (sendmsg with two
    // iovecs), so the inner frame is never copied.
    const headers = Buffer.allocUnsafe((end - start) * VXLAN_HEADER_LEN);
    return new Promise((resolve) => {
      let pending = 0;
      let sent = 0;
      let issued = false;
      const done = (err: Error | null): void => {
        if (err === null) {
          stats.sent++;
          sent++;
        } else {
          stats.sendErrors++;
        }
        if (--pending === 0 && issued) resolve(sent);
      };
      let h = 0;
      for (let i = start; i < end; i++) {
        const f = frames[i]!;
        if (!isValidTunnelKey(f.tunnelKey) || !(f.innerFrame instanceof Uint8Array) || f.innerFrame.length < TUNNEL_MIN_INNER_FRAME) {
          stats.sendErrors++;
          continue;
        }
        const header = headers.subarray(h, h + VXLAN_HEADER_LEN);
        h += VXLAN_HEADER_LEN;
        writeVxlan(header, 0, { flags: VXLAN_FLAG_I, vni: f.tunnelKey });
        pending++;
        try {
          this.#socket.send([header, f.innerFrame], this.remotePort, f.remoteIp, done);
        } catch {
          // Argument errors (a remoteIp that is not a string) and a socket closed under us.
          pending--;
          stats.sendErrors++;
        }
      }
      issued = true;
      if (pending === 0) resolve(sent);
    });
  }

  #receive(msg: Buffer, source: string): void {
    if (this.#closed) return;
    const remoteIp = receivedTunnelIp(source);
    if (this.#remotes !== undefined && !this.#remotes.has(remoteIp)) {
      this.#stats.unknownRemoteDropped++;
      return;
    }
    const d = decodeVxlan(msg);
    if (isDecodeError(d) || d.inner.length < TUNNEL_MIN_INNER_FRAME) {
      this.#stats.malformedDropped++;
      return;
    }
    if (this.#onFrames === undefined) {
      this.#stats.unhandledDropped++;
      return;
    }
    // Each message is a fresh buffer from the socket: the view stays valid after delivery.
    this.#pending.push({ innerFrame: d.inner, tunnelKey: d.header.vni, remoteIp });
    if (this.#pending.length >= this.#maxBatch) this.#flush();
    else if (!this.#flushScheduled) {
      // libuv reads up to 32 datagrams a wake-up before the check phase: they make one batch.
      this.#flushScheduled = true;
      scheduleImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    deliverTunnelBatch(batch, this.#onFrames, this.#stats);
  }
}

/** Opens a VXLAN tunnel port (see VxlanTunnelPort.open). */
export function openVxlanTunnel(opts: VxlanTunnelOptions = {}): Promise<VxlanTunnelPort> {
  return VxlanTunnelPort.open(opts);
}
