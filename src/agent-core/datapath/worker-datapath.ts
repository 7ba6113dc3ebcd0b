// The Datapath on a worker thread (DESIGN: Threads and isolation): packet I/O and the fast path run
// in datapath-worker.ts, off the main event loop; every call here is proxied to it as a message.
// Calls made in one turn of the main loop go over in one postMessage, in order, the frequent ones
// encoded as bytes in one transferred buffer; upcalls and flow state come back in batches, bounded
// by credits the main thread returns as it consumes them. Frames passed in are copied at the call;
// a failure of a call that returns nothing (installFlow, setTunnelRemotes with a bad address) comes
// back through onError and counts in callErrors.
//
// VXLAN only: GRE goes through raw-socket, a pre-N-API addon that polls on libuv's default loop
// (uv_default_loop) and is not context-aware, so it cannot run in a worker. Use InProcessDatapath
// for GRE.
import { existsSync } from 'node:fs';
import { setImmediate as scheduleImmediate } from 'node:timers';
import { Worker } from 'node:worker_threads';
import type { AfPacketOptions } from './af-packet.js';
import type {
  Datapath, DatapathStats, DpAction, DpFlowSpec, DpFlowStateDatagram, DpPortSpec, DpUpcall,
} from './datapath.js';
import { CallEncoder } from './worker-call-codec.js';
import {
  type CallBatch, type WorkerCall, type WorkerEvent, type WorkerSideStats, type WorkerStartData,
  type WorkerTunnelOptions, deserializeError,
} from './worker-datapath-protocol.js';

export type { WorkerTunnelOptions } from './worker-datapath-protocol.js';

export interface WorkerDatapathOptions {
  /** The VXLAN endpoint the worker opens (kind 'gre' is refused). */
  readonly tunnel: WorkerTunnelOptions;
  /** Options for every AF_PACKET port opened. */
  readonly afPacket?: AfPacketOptions;
  /** Upcalls the engine queues per received batch at most; more are dropped and counted. Default 4096. */
  readonly maxPendingUpcalls?: number;
  /**
   * Upcalls posted to the main thread and not yet handed to onUpcall, at most; past it the worker
   * drops upcalls and counts them in upcallQueueDropped. Bounds the main thread's message queue.
   * Default 2048.
   */
  readonly maxUpcallsInFlight?: number;
  /** The same bound for flow-state datagrams (drops count in flowStateDropped). Default 4096. */
  readonly maxFlowStateInFlight?: number;
  /** How often the worker expires idle and hard timeouts. Default 1000 ms. */
  readonly expireIntervalMs?: number;
  /** Calls buffered before they are posted without waiting for the end of the turn. Default 4096. */
  readonly maxCallsPerMessage?: number;
  /** Worker crashes and failures inside it; without a callback they become process warnings. */
  readonly onError?: (err: Error) => void;
  /** The worker died without close(): nothing forwards any more (called once, after onError). */
  readonly onDeath?: (err: Error) => void;
}

export interface WorkerDatapathStats extends DatapathStats, WorkerSideStats {
  /** Times the worker died without close() (each also reported through onError). */
  readonly workerCrashes: number;
  /** Calls made after the worker died, not carried out. */
  readonly callsDropped: number;
}

export class WorkerDatapathError extends Error {
  override readonly name = 'WorkerDatapathError';
}

const CLOSE_TIMEOUT_MS = 5000;
/** Call bytes buffered before the calls are posted without waiting for the end of the turn. */
const MAX_BYTES_PER_MESSAGE = 4 << 20;

/** Where the worker's code is: compiled JS next to this module (dist/), or its TypeScript source run through tsx. */
function workerEntry(): { url: URL; entryUrl?: string } {
  const js = new URL('./datapath-worker.js', import.meta.url);
  if (existsSync(js)) return { url: js };
  const ts = new URL('./datapath-worker.ts', import.meta.url);
  if (existsSync(ts)) return { url: new URL('./datapath-worker-tsx.mjs', import.meta.url), entryUrl: ts.href };
  throw new WorkerDatapathError(`datapath worker not found next to ${import.meta.url} (datapath-worker.js or .ts)`);
}

interface PendingReply {
  readonly what: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export class WorkerDatapath implements Datapath {
  readonly #worker: Worker;
  readonly #maxCallsPerMessage: number;
  readonly #maxUpcallsInFlight: number;
  readonly #replies = new Map<number, PendingReply>();
  #nextId = 1;
  #calls: WorkerCall[] = [];
  readonly #encoder = new CallEncoder();
  /** Calls (bytes and objects) buffered for the next message. */
  #pending = 0;
  /** Calls that could not be encoded (also reported through onError). */
  #encodeErrors = 0;
  #flushScheduled = false;
  #creditUpcalls = 0;
  #creditFlowState = 0;
  #upcallCb: ((batch: readonly DpUpcall[]) => void) | undefined;
  #flowStateCb: ((d: DpFlowStateDatagram) => void) | undefined;
  #errorCb: ((err: Error) => void) | undefined;
  #closing = false;
  #exited: Promise<number>;
  #dead: Error | undefined;
  readonly #deathCb: ((err: Error) => void) | undefined;
  #crashes = 0;
  #callsDropped = 0;
  #mainUpcallDropped = 0;
  #mainFlowStateDropped = 0;
  #tunnelLocalAddress = '';
  #tunnelLocalPort = 0;

  private constructor(worker: Worker, opts: WorkerDatapathOptions, maxUpcallsInFlight: number) {
    this.#worker = worker;
    this.#maxCallsPerMessage = opts.maxCallsPerMessage ?? 4096;
    this.#maxUpcallsInFlight = maxUpcallsInFlight;
    this.#errorCb = opts.onError;
    this.#deathCb = opts.onDeath;
    this.#exited = new Promise((resolve) => worker.once('exit', resolve));
  }

  /** Starts the worker and waits until its tunnel port is bound; rejects with the reason it could not start. */
  static async start(opts: WorkerDatapathOptions): Promise<WorkerDatapath> {
    if (opts.tunnel.kind !== undefined && opts.tunnel.kind !== 'vxlan') {
      throw new WorkerDatapathError(
        `WorkerDatapath supports VXLAN tunnels only, not ${opts.tunnel.kind}: raw-socket (GRE) runs on libuv's default loop and cannot work in a worker thread; use InProcessDatapath for GRE`,
      );
    }
    const entry = workerEntry();
    const maxUpcallsInFlight = opts.maxUpcallsInFlight ?? 2048;
    const data: WorkerStartData = {
      entryUrl: entry.entryUrl,
      tunnel: { ...opts.tunnel, remotes: opts.tunnel.remotes === undefined ? undefined : [...opts.tunnel.remotes] },
      afPacket: opts.afPacket,
      maxPendingUpcalls: opts.maxPendingUpcalls,
      expireIntervalMs: opts.expireIntervalMs,
      maxUpcallsInFlight,
      maxFlowStateInFlight: opts.maxFlowStateInFlight ?? 4096,
    };
    const worker = new Worker(entry.url, { workerData: data, name: 'tollgate-datapath' });
    const dp = new WorkerDatapath(worker, opts, maxUpcallsInFlight);
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number): void => reject(new WorkerDatapathError(`datapath worker exited (code ${code}) before it was ready`));
      const onError = (err: Error): void => {
        worker.off('exit', onExit);
        reject(err);
      };
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', (m: WorkerEvent) => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (m.t === 'ready') {
          dp.#tunnelLocalAddress = m.localAddress;
          dp.#tunnelLocalPort = m.localPort;
          // At once, not after the await: the worker may post its next message right behind this one.
          dp.#listen();
          resolve();
        } else if (m.t === 'startFailed') reject(deserializeError(m.error));
        else reject(new WorkerDatapathError(`datapath worker sent ${m.t} before it was ready`));
      });
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return dp;
  }

  /** The address and UDP port the worker's tunnel socket is bound to. */
  get tunnelLocalAddress(): string {
    return this.#tunnelLocalAddress;
  }

  get tunnelLocalPort(): number {
    return this.#tunnelLocalPort;
  }

  /** False once the worker has died or been closed. */
  get running(): boolean {
    return this.#dead === undefined && !this.#closing;
  }

  /** Times the worker died without close() (also in stats() while it runs). */
  get crashes(): number {
    return this.#crashes;
  }

  /** Calls made after the worker died, not carried out. */
  get callsDropped(): number {
    return this.#callsDropped;
  }

  addPort(port: number, spec: DpPortSpec): Promise<void> {
    return this.#request((id) => ({ op: 'addPort', id, port, spec }), 'addPort').then(() => undefined);
  }

  removePort(port: number): Promise<void> {
    return this.#request((id) => ({ op: 'removePort', id, port }), 'removePort').then(() => undefined);
  }

  setTunnelKey(key: number, port: number | undefined): void {
    this.#call({ op: 'setTunnelKey', key, port });
  }

  setTunnelRemotes(remotes: readonly string[] | undefined): void {
    this.#call({ op: 'setTunnelRemotes', remotes: remotes === undefined ? undefined : [...remotes] });
  }

  installFlow(flow: DpFlowSpec): void {
    if (this.#refuse()) return;
    try {
      this.#encoder.installFlow(flow);
    } catch (err) {
      this.#encodeFailed(err);
      return;
    }
    this.#encoded();
  }

  invalidate(tags: readonly string[]): void {
    if (this.#refuse()) return;
    try {
      this.#encoder.invalidate(tags);
    } catch (err) {
      this.#encodeFailed(err);
      return;
    }
    this.#encoded();
  }

  flushFlows(): void {
    this.#call({ op: 'flushFlows' });
  }

  execute(frame: Uint8Array, actions: readonly DpAction[]): void {
    if (this.#refuse()) return;
    try {
      this.#encoder.execute(frame, actions);
    } catch (err) {
      this.#encodeFailed(err);
      return;
    }
    this.#encoded();
  }

  sendFlowState(remoteIp: string, payload: Uint8Array): void {
    if (this.#refuse()) return;
    try {
      this.#encoder.sendFlowState(remoteIp, payload);
    } catch (err) {
      this.#encodeFailed(err);
      return;
    }
    this.#encoded();
  }

  onUpcall(cb: (batch: readonly DpUpcall[]) => void): void {
    this.#upcallCb = cb;
  }

  onFlowState(cb: (datagram: DpFlowStateDatagram) => void): void {
    this.#flowStateCb = cb;
  }

  /** Where crashes and failures inside the worker are reported (replaces the start option's callback). */
  onError(cb: (err: Error) => void): void {
    this.#errorCb = cb;
  }

  async stats(): Promise<WorkerDatapathStats> {
    const s = (await this.#request((id) => ({ op: 'stats', id }), 'stats')) as DatapathStats & WorkerSideStats;
    return {
      ...s,
      upcalls: s.upcalls - this.#mainUpcallDropped,
      upcallQueueDropped: s.upcallQueueDropped + this.#mainUpcallDropped,
      flowStateDropped: s.flowStateDropped + this.#mainFlowStateDropped,
      callErrors: s.callErrors + this.#encodeErrors,
      workerCrashes: this.#crashes,
      callsDropped: this.#callsDropped,
    };
  }

  /** Closes ports and tunnel in the worker and waits for the thread to end; also after a crash. */
  async close(): Promise<void> {
    if (this.#closing) {
      await this.#exited;
      return;
    }
    this.#closing = true;
    if (this.#dead === undefined) {
      const closed = this.#request((id) => ({ op: 'close', id }), 'close', true).catch(() => undefined);
      this.#flush();
      await closed;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    const how = await Promise.race([this.#exited, timedOut]);
    clearTimeout(timer);
    if (how === 'timeout') await this.#worker.terminate();
  }

  /** Test hook: makes the worker throw an uncaught error, as a bug in it would. */
  simulateWorkerCrash(): void {
    this.#call({ op: 'crash' });
  }

  #listen(): void {
    this.#worker.on('message', (m: WorkerEvent) => this.#onEvent(m));
    this.#worker.on('error', (err) => {
      // An uncaught exception ended the thread; 'exit' follows.
      this.#crashes++;
      this.#die(err);
      this.#report(err);
      this.#deathCb?.(err);
    });
    this.#worker.on('exit', (code) => {
      if (this.#dead !== undefined) return;
      const err = new WorkerDatapathError(`datapath worker exited (code ${code})${this.#closing ? '' : ' without close()'}`);
      if (!this.#closing) {
        this.#crashes++;
        this.#report(err);
      }
      this.#die(err);
      if (!this.#closing) this.#deathCb?.(err);
    });
  }

  #onEvent(m: WorkerEvent): void {
    switch (m.t) {
      case 'upcalls':
        this.#deliverUpcalls(m);
        return;
      case 'flowState':
        this.#deliverFlowState(m);
        return;
      case 'reply': {
        const r = this.#replies.get(m.id);
        if (r === undefined) return;
        this.#replies.delete(m.id);
        if (m.ok) r.resolve(m.value);
        else r.reject(deserializeError(m.error));
        return;
      }
      case 'error':
        this.#report(deserializeError(m.error));
        return;
      default:
        this.#report(new WorkerDatapathError(`unexpected message from the datapath worker: ${m.t}`));
    }
  }

  #deliverUpcalls(m: Extract<WorkerEvent, { t: 'upcalls' }>): void {
    const n = m.ports.length;
    this.#credit(n, 0);
    // The worker keeps at most maxUpcallsInFlight in flight; a batch past it means a broken
    // worker, and is dropped rather than let the main loop's work grow without bound.
    if (this.#upcallCb === undefined || this.#closing || n > this.#maxUpcallsInFlight) {
      this.#mainUpcallDropped += n;
      return;
    }
    const bytes = new Uint8Array(m.bytes);
    const batch: DpUpcall[] = new Array<DpUpcall>(n);
    for (let i = 0; i < n; i++) {
      batch[i] = { port: m.ports[i]!, frame: bytes.subarray(m.offsets[i]!, m.offsets[i]! + m.lengths[i]!) };
    }
    try {
      this.#upcallCb(batch);
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #deliverFlowState(m: Extract<WorkerEvent, { t: 'flowState' }>): void {
    const n = m.remotes.length;
    this.#credit(0, n);
    const cb = this.#flowStateCb;
    if (cb === undefined || this.#closing) {
      this.#mainFlowStateDropped += n;
      return;
    }
    const bytes = new Uint8Array(m.bytes);
    for (let i = 0; i < n; i++) {
      try {
        cb({ remoteIp: m.remotes[i]!, payload: bytes.subarray(m.offsets[i]!, m.offsets[i]! + m.lengths[i]!) });
      } catch (err) {
        this.#report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** Credits go back with the next call batch (at the latest at the end of this turn). */
  #credit(upcalls: number, flowState: number): void {
    if (this.#dead !== undefined || this.#closing) return;
    this.#creditUpcalls += upcalls;
    this.#creditFlowState += flowState;
    this.#schedule();
  }

  #refuse(): boolean {
    if (this.#closing) return true;
    if (this.#dead !== undefined) {
      this.#callsDropped++;
      return true;
    }
    return false;
  }

  #call(call: WorkerCall): void {
    if (this.#refuse()) return;
    this.#calls.push(call);
    this.#encoder.object();
    this.#encoded();
  }

  /** A call went into the encoder: post now if the message is full, else at the end of the turn. */
  #encoded(): void {
    if (++this.#pending >= this.#maxCallsPerMessage || this.#encoder.byteLength >= MAX_BYTES_PER_MESSAGE) this.#flush();
    else this.#schedule();
  }

  #encodeFailed(err: unknown): void {
    this.#encodeErrors++;
    this.#report(err instanceof Error ? err : new Error(String(err)));
  }

  #request(make: (id: number) => WorkerCall, what: string, evenWhenClosing = false): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(new WorkerDatapathError(`${what}: ${this.#dead.message}`));
    if (this.#closing && !evenWhenClosing) return Promise.reject(new WorkerDatapathError(`${what}: the datapath is closed`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#replies.set(id, { what, resolve, reject });
      this.#calls.push(make(id));
      this.#encoder.object();
      this.#pending++;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    scheduleImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#dead !== undefined) return;
    if (this.#pending === 0 && this.#creditUpcalls === 0 && this.#creditFlowState === 0) return;
    const ops = this.#encoder.take();
    // Credits go first in the worker: it may post again as early as possible.
    const batch: CallBatch = {
      ops: ops?.bytes, opsLength: ops?.length ?? 0, calls: this.#calls, creditUpcalls: this.#creditUpcalls, creditFlowState: this.#creditFlowState,
    };
    this.#calls = [];
    this.#pending = 0;
    this.#creditUpcalls = 0;
    this.#creditFlowState = 0;
    this.#worker.postMessage(batch, ops === undefined ? [] : [ops.bytes]);
  }

  #die(err: Error): void {
    if (this.#dead !== undefined) return;
    this.#dead = err;
    this.#calls = [];
    this.#pending = 0;
    this.#encoder.reset();
    for (const [id, r] of this.#replies) {
      this.#replies.delete(id);
      r.reject(new WorkerDatapathError(`${r.what}: ${err.message}`));
    }
  }

  #report(err: Error): void {
    if (this.#errorCb !== undefined) this.#errorCb(err);
    else process.emitWarning(err);
  }
}
