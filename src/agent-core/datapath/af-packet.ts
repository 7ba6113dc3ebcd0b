// Frame I/O on one host interface through the AF_PACKET addon (native/): a TPACKET_V3 receive ring
// read in batches on the event loop, batched sends (DESIGN: The packet's way, step 1; STACK-NOTES: Packets).
import { createRequire } from 'node:module';

export interface AfPacketOptions {
  /** Open the interface inside this network namespace (a name under /run/netns, or a path). */
  netns?: string;
  /** Also receive frames addressed to other MACs (PACKET_MR_PROMISC). Default false. */
  promiscuous?: boolean;
  /** Skip frames this host sends on the interface, ours included (PACKET_IGNORE_OUTGOING). Default true. */
  ignoreOutgoing?: boolean;
  /** Send straight to the driver, past the qdisc (PACKET_QDISC_BYPASS). Default false. */
  qdiscBypass?: boolean;
  /**
   * Send through a TX ring (PACKET_TX_RING) instead of sendmmsg. Default false: over veth,
   * sendmmsg measured 12–26 % faster here (bench/af-packet-io.ts); the ring remains for NICs.
   */
  txRing?: boolean;
  /** Receive ring block: power of two, at least a page; also the longest frame kept whole. Default 256 KiB. */
  blockSize?: number;
  /** Receive ring blocks. Default 16 (4 MiB with the default block). */
  blockCount?: number;
  /** A partly filled block is handed over after this many ms: the latency at low rates. Default 1. */
  blockTimeoutMs?: number;
  /** TX ring slot size; the longest frame sent is this minus 48. Default 2048. */
  txFrameSize?: number;
  /** TX ring slots. Default 1024. */
  txFrameCount?: number;
  /** Frames handed to one onFrames call at most. Default 256. */
  maxBatch?: number;
  /** Batches delivered per readiness wake-up before other event-loop work gets a turn. Default 4. */
  batchesPerWake?: number;
}

export interface AfPacketInfo {
  ifname: string;
  ifindex: number;
  /** The interface's MAC as a 48-bit number (packet/addr.ts convention). */
  mac: number;
  mtu: number;
  /** The longest frame send() accepts; longer ones are counted in sendFailed. */
  maxSendLength: number;
  maxBatch: number;
}

export interface AfPacketStats {
  /** Frames handed to onFrames. */
  received: number;
  batches: number;
  /** Frames the kernel accepted for sending. */
  sent: number;
  /** Frames refused: malformed or too long, no buffer space, or the TX ring full. */
  sendFailed: number;
  /** Frames the socket saw, including kernelDrops (PACKET_STATISTICS). */
  kernelPackets: number;
  /** Frames the kernel dropped because the receive ring was full. */
  kernelDrops: number;
  kernelFreezes: number;
  /** Frames longer than a ring block, delivered cut short. */
  truncated: number;
  /** Socket errors reported through onError (e.g. ENETDOWN). */
  errors: number;
}

/** Per-frame flags in FrameBatch.flagsOf(i). */
export const FrameFlag = {
  /** The kernel had stripped the outer 802.1Q/802.1ad tag; it was put back in the frame. */
  VLAN_RESTORED: 1,
  /** Longer than a receive block: only the head is in the batch. */
  TRUNCATED: 2,
  /**
   * Sent by a local stack with checksum offload (e.g. from a namespace over a veth): the TCP/UDP
   * checksum field holds only the pseudo-header sum. Complete it before the frame leaves a host.
   */
  CSUM_NOT_READY: 4,
  /** The device verified the L4 checksum. */
  CSUM_VALID: 8,
} as const;

/** A failed socket operation, with the errno name (code) and the system call that failed. */
export class AfPacketError extends Error {
  override readonly name = 'AfPacketError';
  constructor(
    message: string,
    readonly code: string,
    readonly errno: number | undefined,
    readonly syscall: string | undefined,
    readonly ifname: string,
  ) {
    super(message);
  }
}

/**
 * Frames packed in one buffer: frame i is data[offsets[i] .. offsets[i] + lengths[i]).
 * A batch passed to onFrames lives in buffers the port reuses: its views are valid until the
 * callback returns, so copy (`frame(i).slice()`) what must outlive it.
 */
export class FrameBatch {
  constructor(
    readonly data: Uint8Array,
    readonly offsets: Uint32Array,
    readonly lengths: Uint32Array,
    readonly count: number,
    readonly flags?: Uint8Array,
  ) {
    if (count > offsets.length || count > lengths.length) throw new RangeError('count exceeds offsets/lengths');
  }

  /** Frame i as a view into data (no copy). */
  frame(i: number): Uint8Array {
    if (i < 0 || i >= this.count) throw new RangeError(`frame ${i} of ${this.count}`);
    const start = this.offsets[i]!;
    return this.data.subarray(start, start + this.lengths[i]!);
  }

  /** FrameFlag bits of frame i (0 for batches built by hand). */
  flagsOf(i: number): number {
    return this.flags?.[i] ?? 0;
  }

  *[Symbol.iterator](): IterableIterator<Uint8Array> {
    for (let i = 0; i < this.count; i++) yield this.frame(i);
  }

  /** Copies frames into one buffer, ready to send as a batch. */
  static pack(frames: readonly Uint8Array[]): FrameBatch {
    let total = 0;
    for (const f of frames) total += f.length;
    const data = new Uint8Array(total);
    const offsets = new Uint32Array(frames.length);
    const lengths = new Uint32Array(frames.length);
    let at = 0;
    frames.forEach((f, i) => {
      data.set(f, at);
      offsets[i] = at;
      lengths[i] = f.length;
      at += f.length;
    });
    return new FrameBatch(data, offsets, lengths, frames.length);
  }
}

interface NativeSocket {
  start(onBatch: (count: number) => void, onError: (err: unknown) => void): void;
  stop(): void;
  send(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  sendList(frames: readonly Uint8Array[]): number;
  stats(): AfPacketStats;
  info(): AfPacketInfo;
  buffers(): { data: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; flags: Uint8Array };
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  AfPacketSocket: new (ifname: string, opts: AfPacketOptions) => NativeSocket;
  benchRecvmmsg(
    ifname: string,
    netns: string | undefined,
    durationMs: number,
    batch: number,
  ): { packets: number; seconds: number; kernelPackets: number; kernelDrops: number };
}

// Built by `npm ci` (binding.gyp at the repo root); src/ and dist/ are both three levels below it.
const ADDON_PATH = '../../../build/Release/tollgate_af_packet.node';
let addon: NativeAddon | undefined;

/** The native addon, loaded on first use so that importing this module never needs it. */
export function loadAfPacketAddon(): NativeAddon {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new AfPacketError(`AF_PACKET addon not loadable (run npm ci or npx node-gyp rebuild): ${why}`, 'ENOADDON', undefined, undefined, '');
    }
  }
  return addon;
}

// Duck-typed: the addon's errors come from the main realm, so `instanceof Error` fails for code
// running in another one (a vm context, as under jest).
function toAfPacketError(err: unknown, ifname: string): unknown {
  const e = err as { message?: unknown; code?: unknown; errno?: unknown; syscall?: unknown } | null;
  if (typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string') {
    const errno = typeof e.errno === 'number' ? e.errno : undefined;
    return new AfPacketError(e.message, e.code, errno, typeof e.syscall === 'string' ? e.syscall : undefined, ifname);
  }
  return err; // argument errors (TypeError, RangeError) are programming errors: leave them as they are
}

export class AfPacketPort {
  readonly info: AfPacketInfo;
  #native: NativeSocket;
  #buffers: ReturnType<NativeSocket['buffers']>;
  #onFrames: ((batch: FrameBatch) => void) | undefined;
  #onError: ((err: AfPacketError) => void) | undefined;
  #closed = false;

  private constructor(native: NativeSocket) {
    this.#native = native;
    this.info = native.info();
    this.#buffers = native.buffers();
  }

  /** Opens ifname (ETH_P_ALL) with a receive ring; throws AfPacketError (ENODEV, EPERM, ...). */
  static open(ifname: string, opts: AfPacketOptions = {}): AfPacketPort {
    const { AfPacketSocket } = loadAfPacketAddon();
    try {
      return new AfPacketPort(new AfPacketSocket(ifname, opts));
    } catch (err) {
      throw toAfPacketError(err, ifname);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts (or resumes) delivery: cb gets each batch of up to maxBatch frames. Replaces an earlier cb. */
  onFrames(cb: (batch: FrameBatch) => void): void {
    this.#onFrames = cb;
    const { data, offsets, lengths, flags } = this.#buffers;
    this.#call(() =>
      this.#native.start(
        (count) => this.#onFrames?.(new FrameBatch(data, offsets, lengths, count, flags)),
        (err) => {
          const e = toAfPacketError(err, this.info.ifname);
          if (e instanceof AfPacketError) this.#onError?.(e);
        },
      ),
    );
  }

  /** Socket errors after open (ENETDOWN when the link goes down); counted in stats().errors either way. */
  onError(cb: (err: AfPacketError) => void): void {
    this.#onError = cb;
  }

  /** Stops delivery until the next onFrames; frames keep arriving in the ring meanwhile. */
  pause(): void {
    if (!this.#closed) this.#native.stop();
  }

  /**
   * Sends frames in one batch without blocking; returns how many the kernel took. Frames it
   * refused (too long, no buffer space) are counted in stats().sendFailed, not thrown.
   */
  send(frames: readonly Uint8Array[] | FrameBatch): number {
    return this.#call(() =>
      frames instanceof FrameBatch
        ? this.#native.send(frames.data, frames.offsets, frames.lengths, frames.count)
        : this.#native.sendList(frames),
    );
  }

  stats(): AfPacketStats {
    return this.#call(() => this.#native.stats());
  }

  /** Whether an open port keeps the process alive (it does by default, like a socket). */
  ref(): void {
    if (!this.#closed) this.#native.ref();
  }

  unref(): void {
    if (!this.#closed) this.#native.unref();
  }

  /** Idempotent; safe inside onFrames (delivery stops after the current batch). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onFrames = undefined;
    this.#native.close();
  }

  #call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toAfPacketError(err, this.info.ifname);
    }
  }
}
