// The datapath worker thread: an InProcessDatapath with a VXLAN tunnel port of its own, driven by
// the call batches of WorkerDatapath and posting upcalls and flow state back in bounded batches
// (DESIGN: Threads and isolation; The packet's way, steps 1-3 and 6).
import { parentPort, workerData } from 'node:worker_threads';
import { setImmediate as scheduleImmediate } from 'node:timers';
import type { DpFlowStateDatagram, DpUpcall } from './datapath.js';
import { InProcessDatapath } from './in-process-datapath.js';
import { VxlanTunnelPort } from './vxlan-tunnel.js';
import { CallDecoder } from './worker-call-codec.js';
import {
  type CallBatch, FramePacker, type WorkerCall, type WorkerEvent, type WorkerSideStats, type WorkerStartData, serializeError,
} from './worker-datapath-protocol.js';

if (parentPort === null) throw new Error('datapath-worker.ts runs only as a worker thread (see WorkerDatapath)');
const port = parentPort;
const start = workerData as WorkerStartData;

function post(event: WorkerEvent, transfer: ArrayBuffer[] = []): void {
  port.postMessage(event, transfer);
}

/**
 * Upcalls and flow-state datagrams on their way to the main thread. Items are gathered for one turn
 * of this thread's loop and posted as one message; at most `limit` posted items may wait for the
 * main thread's credit at once, so its message queue stays bounded under a flood. Past that, items
 * are dropped here and counted.
 */
class Outbox<T> {
  inFlight = 0;
  dropped = 0;
  pending: T[] = [];
  #scheduled = false;

  constructor(
    private readonly limit: number,
    private readonly postBatch: (items: T[]) => void,
  ) {}

  add(items: readonly T[]): void {
    for (const item of items) {
      if (this.inFlight + this.pending.length >= this.limit) this.dropped++;
      else this.pending.push(item);
    }
    if (this.pending.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      scheduleImmediate(() => this.flush());
    }
  }

  /** Items that may still be added before the limit drops them. */
  room(): number {
    return Math.max(0, this.limit - this.inFlight - this.pending.length);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.inFlight += items.length;
    this.postBatch(items);
  }

  credit(n: number): void {
    this.inFlight = Math.max(0, this.inFlight - n);
  }
}

function postUpcalls(batch: DpUpcall[]): void {
  const packer = new FramePacker();
  const ports = new Uint32Array(batch.length);
  const offsets = new Uint32Array(batch.length);
  const lengths = new Uint32Array(batch.length);
  batch.forEach((u, i) => {
    const ref = packer.add(u.frame);
    ports[i] = u.port;
    offsets[i] = ref.at;
    lengths[i] = ref.len;
  });
  const bytes = packer.take() ?? new ArrayBuffer(0);
  post({ t: 'upcalls', ports, offsets, lengths, bytes }, [bytes, ports.buffer, offsets.buffer, lengths.buffer]);
}

function postFlowState(batch: DpFlowStateDatagram[]): void {
  const packer = new FramePacker();
  const offsets = new Uint32Array(batch.length);
  const lengths = new Uint32Array(batch.length);
  batch.forEach((d, i) => {
    const ref = packer.add(d.payload);
    offsets[i] = ref.at;
    lengths[i] = ref.len;
  });
  const bytes = packer.take() ?? new ArrayBuffer(0);
  post({ t: 'flowState', remotes: batch.map((d) => d.remoteIp), offsets, lengths, bytes }, [bytes, offsets.buffer, lengths.buffer]);
}

async function main(): Promise<void> {
  const t = start.tunnel;
  let datapath: InProcessDatapath;
  try {
    if (t.kind !== undefined && t.kind !== 'vxlan') throw new Error(`the datapath worker supports VXLAN tunnels only, not ${t.kind}`);
    const tunnel = await VxlanTunnelPort.open({
      localAddress: t.localAddress, port: t.port, remotePort: t.remotePort, remotes: t.remotes,
      recvBufferSize: t.recvBufferSize, sendBufferSize: t.sendBufferSize,
    });
    tunnel.onError((err) => post({ t: 'error', error: serializeError(err) }));
    const upcalls = new Outbox<DpUpcall>(start.maxUpcallsInFlight, postUpcalls);
    // The engine asks for room before it copies a missed frame: a full queue costs no copy.
    datapath = new InProcessDatapath({
      tunnel, afPacket: start.afPacket, maxPendingUpcalls: start.maxPendingUpcalls, expireIntervalMs: start.expireIntervalMs,
      upcallRoom: () => upcalls.room(),
    });
    const flowState = new Outbox<DpFlowStateDatagram>(start.maxFlowStateInFlight, postFlowState);
    datapath.onUpcall((batch) => upcalls.add(batch));
    datapath.onFlowState((d) => flowState.add([d]));
    const runner = new CallRunner(datapath, upcalls, flowState);
    // Batches run strictly one after another, also across the awaits of addPort/removePort/close.
    let chain = Promise.resolve();
    port.on('message', (batch: CallBatch) => {
      chain = chain.then(() => runner.run(batch));
    });
    post({ t: 'ready', localAddress: tunnel.localAddress, localPort: tunnel.localPort });
  } catch (err) {
    post({ t: 'startFailed', error: serializeError(err) });
    port.close();
  }
}

class CallRunner {
  #callErrors = 0;
  #closed = false;
  readonly #decoder = new CallDecoder();

  constructor(
    private readonly datapath: InProcessDatapath,
    private readonly upcalls: Outbox<DpUpcall>,
    private readonly flowState: Outbox<DpFlowStateDatagram>,
  ) {}

  async run(batch: CallBatch): Promise<void> {
    this.upcalls.credit(batch.creditUpcalls);
    this.flowState.credit(batch.creditFlowState);
    if (batch.ops === undefined) return;
    const dp = this.datapath;
    const decoder = this.#decoder;
    decoder.begin(batch.ops, batch.opsLength);
    let objects = 0;
    while (!this.#closed) {
      let call;
      try {
        call = decoder.next();
      } catch (err) {
        // Bytes this side cannot read: the rest of the batch is lost with them.
        this.#failed(err);
        return;
      }
      if (call === undefined) return;
      try {
        // A bad call (malformed flow spec, unknown interface) costs that call, not the datapath.
        switch (call.op) {
          case 'installFlow':
            dp.installFlow(call.flow);
            break;
          case 'execute':
            dp.execute(call.frame, call.actions);
            break;
          case 'sendFlowState':
            dp.sendFlowState(call.remoteIp, call.payload);
            break;
          case 'invalidate':
            dp.invalidate(call.tags);
            break;
          case 'object': {
            const object = batch.calls[objects++];
            if (object === undefined) throw new TypeError('call batch names more calls than it carries');
            await this.#object(object);
            break;
          }
        }
      } catch (err) {
        this.#failed(err);
      }
    }
  }

  #failed(err: unknown): void {
    this.#callErrors++;
    post({ t: 'error', error: serializeError(err) });
  }

  /** One structured-clone call; a call with an id gets its failure as the reply. */
  async #object(call: WorkerCall): Promise<void> {
    try {
      await this.#one(call);
    } catch (err) {
      if ('id' in call) post({ t: 'reply', id: call.id, ok: false, error: serializeError(err) });
      else throw err;
    }
  }

  async #one(call: WorkerCall): Promise<void> {
    const dp = this.datapath;
    switch (call.op) {
      case 'flushFlows':
        dp.flushFlows();
        return;
      case 'setTunnelKey':
        dp.setTunnelKey(call.key, call.port);
        return;
      case 'setTunnelRemotes':
        dp.setTunnelRemotes(call.remotes);
        return;
      case 'addPort':
        await dp.addPort(call.port, call.spec);
        post({ t: 'reply', id: call.id, ok: true });
        return;
      case 'removePort':
        await dp.removePort(call.port);
        post({ t: 'reply', id: call.id, ok: true });
        return;
      case 'stats': {
        // Upcalls already counted go out first, so that the main thread has seen every upcall in
        // the figures by the time it reads them (the port delivers in order).
        this.upcalls.flush();
        this.flowState.flush();
        const s = await dp.stats();
        const dropped = this.upcalls.dropped;
        const extra: WorkerSideStats = { flowStateDropped: this.flowState.dropped, callErrors: this.#callErrors };
        post({
          t: 'reply', id: call.id, ok: true,
          value: { ...s, ...extra, upcalls: s.upcalls - dropped, upcallQueueDropped: s.upcallQueueDropped + dropped },
        });
        return;
      }
      case 'close':
        this.#closed = true;
        await dp.close();
        post({ t: 'reply', id: call.id, ok: true });
        // Nothing else keeps this thread's loop alive now: it ends and the main side sees 'exit'.
        port.close();
        return;
      case 'crash':
        scheduleImmediate(() => {
          throw new Error('datapath worker crash requested (test hook)');
        });
        return;
      default:
        throw new TypeError(`unknown datapath worker call ${(call as { op: unknown }).op}`);
    }
  }
}

void main();
