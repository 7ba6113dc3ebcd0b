// The messages between WorkerDatapath (main thread) and its datapath worker (DESIGN: Threads and
// isolation): calls go down in ordered batches, upcalls and flow state come up in batches, frames
// travel packed into one transferred ArrayBuffer a message, errors as plain data.
import type { AfPacketOptions } from './af-packet.js';
import { AfPacketError } from './af-packet.js';
import type { DatapathStats, DpPortSpec } from './datapath.js';
import { TunnelError, type TunnelKind } from './tunnel-port.js';

/** The tunnel the worker opens itself: VXLAN only (see worker-datapath.ts for why not GRE). */
export interface WorkerTunnelOptions {
  readonly kind?: TunnelKind;
  /** Address to bind; default '0.0.0.0'. */
  readonly localAddress?: string;
  /** UDP port to bind; default VXLAN_PORT_TOLLGATE (6677); 0 picks a free one. */
  readonly port?: number;
  /** UDP port of the remote endpoints; default the port bound. */
  readonly remotePort?: number;
  /** Underlay sources accepted; default any. */
  readonly remotes?: readonly string[];
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
}

/** What the worker gets as workerData (structured-cloneable: no functions). */
export interface WorkerStartData {
  /** Set when the TypeScript entry is loaded through the tsx bootstrap. */
  readonly entryUrl?: string;
  readonly tunnel: WorkerTunnelOptions;
  readonly afPacket?: AfPacketOptions;
  readonly maxPendingUpcalls?: number;
  readonly expireIntervalMs?: number;
  /** Upcalls posted to the main thread and not yet consumed there, at most. */
  readonly maxUpcallsInFlight: number;
  /** Flow-state datagrams posted and not yet consumed, at most. */
  readonly maxFlowStateInFlight: number;
}

/** A frame inside the message's packed bytes. */
export interface FrameRef {
  readonly at: number;
  readonly len: number;
}

/**
 * A Datapath call that crosses as a structured clone (the rare ones); installs, executes, flow-state
 * sends and invalidations cross as bytes (worker-call-codec.ts). `id` calls are answered by a reply.
 */
export type WorkerCall =
  | { readonly op: 'addPort'; readonly id: number; readonly port: number; readonly spec: DpPortSpec }
  | { readonly op: 'removePort'; readonly id: number; readonly port: number }
  | { readonly op: 'setTunnelKey'; readonly key: number; readonly port: number | undefined }
  | { readonly op: 'setTunnelRemotes'; readonly remotes: readonly string[] | undefined }
  | { readonly op: 'flushFlows' }
  | { readonly op: 'stats'; readonly id: number }
  | { readonly op: 'close'; readonly id: number }
  /** Test hook: throws an uncaught error in the worker, to exercise crash reporting. */
  | { readonly op: 'crash' };

/** The calls of one turn of the main thread, in the order they were made. */
export interface CallBatch {
  /** The calls as bytes (CallEncoder): the first `opsLength` bytes; undefined when there are none. */
  readonly ops: ArrayBuffer | undefined;
  readonly opsLength: number;
  /** The structured-clone calls, each where the bytes say (an "object" call). */
  readonly calls: readonly WorkerCall[];
  /** The main thread consumed this many posted upcalls and flow-state datagrams (applied first). */
  readonly creditUpcalls: number;
  readonly creditFlowState: number;
}

/** Counters the worker keeps besides the engine's. */
export interface WorkerSideStats {
  /** Flow-state datagrams dropped because the main thread had not consumed earlier ones. */
  readonly flowStateDropped: number;
  /** Calls that threw inside the worker (each also reported through onError). */
  readonly callErrors: number;
}

export type WorkerEvent =
  | { readonly t: 'ready'; readonly localAddress: string; readonly localPort: number }
  | { readonly t: 'startFailed'; readonly error: SerializedError }
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly value?: DatapathStats & WorkerSideStats }
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: SerializedError }
  /** Upcall i is port ports[i], bytes [offsets[i], offsets[i] + lengths[i]). */
  | { readonly t: 'upcalls'; readonly ports: Uint32Array; readonly offsets: Uint32Array; readonly lengths: Uint32Array; readonly bytes: ArrayBuffer }
  | { readonly t: 'flowState'; readonly remotes: readonly string[]; readonly offsets: Uint32Array; readonly lengths: Uint32Array; readonly bytes: ArrayBuffer }
  /** A failure that did not stop the worker (a call that threw, a tunnel socket error). */
  | { readonly t: 'error'; readonly error: SerializedError };

/** Copies frames into one growing buffer, to be transferred whole with one message. */
export class FramePacker {
  #buf: Uint8Array<ArrayBuffer> | undefined;
  #used = 0;

  get bytes(): number {
    return this.#used;
  }

  /** Copies the frame's bytes (the caller may reuse its buffer at once) and says where they went. */
  add(frame: Uint8Array): FrameRef {
    const need = this.#used + frame.length;
    if (this.#buf === undefined || need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(4096, need * 2));
      if (this.#buf !== undefined) grown.set(this.#buf.subarray(0, this.#used));
      this.#buf = grown;
    }
    const at = this.#used;
    this.#buf.set(frame, at);
    this.#used = need;
    return { at, len: frame.length };
  }

  /** The packed bytes (undefined when empty); the packer starts a new buffer. */
  take(): ArrayBuffer | undefined {
    const buf = this.#buf;
    const used = this.#used;
    this.#buf = undefined;
    this.#used = 0;
    if (buf === undefined || used === 0) return undefined;
    // Mostly empty buffers are trimmed so that a message never carries much slack across threads.
    return used * 2 >= buf.length ? buf.buffer : buf.buffer.slice(0, used);
  }
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly ifname?: string;
  readonly kind?: TunnelKind;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AfPacketError) {
    return { name: err.name, message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, ifname: err.ifname };
  }
  if (err instanceof TunnelError) return { name: err.name, message: err.message, code: err.code, kind: err.kind };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

/** The error again on this side of the thread boundary, as its own class where the datapath defines one. */
export function deserializeError(e: SerializedError): Error {
  switch (e.name) {
    case 'AfPacketError':
      return new AfPacketError(e.message, e.code ?? 'EUNKNOWN', e.errno, e.syscall, e.ifname ?? '');
    case 'TunnelError':
      return new TunnelError(e.message, e.code ?? 'EUNKNOWN', e.kind ?? 'vxlan');
    case 'TypeError':
      return new TypeError(e.message);
    case 'RangeError':
      return new RangeError(e.message);
    default: {
      const err = new Error(e.message);
      err.name = e.name;
      if (e.code !== undefined) (err as NodeJS.ErrnoException).code = e.code;
      return err;
    }
  }
}
