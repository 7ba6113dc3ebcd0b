// The Datapath on the calling thread: AF_PACKET ports and one tunnel port feeding the core's
// megaflow table; hits are executed here, misses go up as batched upcalls, tunnel frames go straight
// to the port their key names (DESIGN: The packet's way, steps 1-3 and 6). The worker datapath runs
// this same engine on its own thread.
import { MegaflowTable } from '../flows/index.js';
import {
  FIELD_OFFSET, Field, KEY_WORDS, TUNNEL_KEY_FLOW_STATE, TUNNEL_KEY_TRACE_BIT, applyModifications, completeL4Checksum,
  extractFlowKey, isDecodeError, type HeaderModification,
} from '../packet/index.js';
import { AfPacketPort, FrameFlag, type AfPacketOptions } from './af-packet.js';
import type {
  Datapath, DatapathPortStats, DatapathStats, DpAction, DpFlowSpec, DpFlowStateDatagram, DpPortSpec, DpUpcall,
} from './datapath.js';
import type { TunnelFrame, TunnelPort } from './tunnel-port.js';

export interface InProcessDatapathOptions {
  /** The overlay tunnel endpoint (VXLAN or GRE); its frame callback is taken over by the datapath. */
  readonly tunnel: TunnelPort;
  /** Options for every AF_PACKET port opened. */
  readonly afPacket?: AfPacketOptions;
  /** Upcalls queued for the main loop at most; more are dropped and counted. Default 4096. */
  readonly maxPendingUpcalls?: number;
  /** How often idle and hard timeouts are checked. Default 1000 ms. */
  readonly expireIntervalMs?: number;
  /** Milliseconds, monotonic; default performance.now. */
  readonly clock?: () => number;
}

/** A flow's actions split into runs of rewrites, each ending in outputs. */
interface CompiledActions {
  readonly segments: readonly { readonly mods: readonly HeaderModification[]; readonly outputs: readonly DpAction[] }[];
}

interface OpenPort {
  readonly port: number;
  readonly ifname: string;
  readonly io: AfPacketPort;
  /** Frames queued for this port during the current batch. */
  out: Uint8Array[];
}

const IN_PORT = FIELD_OFFSET[Field.InPort];

/** The tag the datapath adds to each flow for its ingress port, so that removing the port drops them. */
export function inPortTag(port: number): string {
  return `dp-in:${port}`;
}

export class InProcessDatapath implements Datapath {
  private readonly flows = new MegaflowTable<CompiledActions>();
  private readonly ports = new Map<number, OpenPort>();
  private readonly tunnelKeys = new Map<number, number>();
  private readonly key = new Float64Array(KEY_WORDS);
  private readonly clock: () => number;
  private readonly maxPendingUpcalls: number;
  private readonly expireTimer: ReturnType<typeof setInterval>;
  private upcallCb: ((batch: readonly DpUpcall[]) => void) | undefined;
  private flowStateCb: ((d: DpFlowStateDatagram) => void) | undefined;
  private tunnelOut: TunnelFrame[] = [];
  private closed = false;
  private readonly c = {
    hits: 0, upcalls: 0, upcallQueueDropped: 0, malformedDropped: 0, unknownTunnelKeyDropped: 0, tunnelDelivered: 0,
    tunnelSent: 0, flowsInstalled: 0, flowsInvalidated: 0, flowsExpired: 0,
  };

  constructor(private readonly options: InProcessDatapathOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.maxPendingUpcalls = options.maxPendingUpcalls ?? 4096;
    options.tunnel.onFrames((batch) => this.onTunnelFrames(batch));
    this.expireTimer = setInterval(() => {
      this.c.flowsExpired += this.flows.expire(this.clock()).length;
    }, options.expireIntervalMs ?? 1000);
    this.expireTimer.unref();
  }

  async addPort(port: number, spec: DpPortSpec): Promise<void> {
    if (!Number.isInteger(port) || port < 1) throw new RangeError(`datapath port number must be a positive integer, not ${port}`);
    if (this.ports.has(port)) throw new Error(`datapath port ${port} is already open (${this.ports.get(port)!.ifname})`);
    const io = AfPacketPort.open(spec.ifname, { ...this.options.afPacket, netns: spec.netns });
    const open: OpenPort = { port, ifname: spec.ifname, io, out: [] };
    this.ports.set(port, open);
    io.onFrames((batch) => {
      const upcalls: DpUpcall[] = [];
      for (let i = 0; i < batch.count; i++) {
        const frame = batch.frame(i);
        if ((batch.flagsOf(i) & FrameFlag.CSUM_NOT_READY) !== 0) completeL4Checksum(frame);
        this.receive(port, frame, upcalls);
      }
      this.flushOutputs();
      this.deliverUpcalls(upcalls);
    });
    return Promise.resolve();
  }

  async removePort(port: number): Promise<void> {
    const p = this.ports.get(port);
    if (p === undefined) return;
    this.ports.delete(port);
    p.io.close();
    this.c.flowsInvalidated += this.flows.invalidateTag(inPortTag(port)).length;
    for (const [k, v] of this.tunnelKeys) if (v === port) this.tunnelKeys.delete(k);
    return Promise.resolve();
  }

  setTunnelKey(key: number, port: number | undefined): void {
    if (port === undefined) this.tunnelKeys.delete(key);
    else this.tunnelKeys.set(key, port);
  }

  setTunnelRemotes(remotes: readonly string[] | undefined): void {
    this.options.tunnel.setRemotes(remotes);
  }

  installFlow(flow: DpFlowSpec): void {
    if (this.closed) return;
    const tags = [...flow.tags, inPortTag(flow.key[IN_PORT]!)];
    this.flows.install(flow.key, flow.mask, compileActions(flow.actions), tags, flow.timeouts, this.clock());
    this.c.flowsInstalled++;
  }

  invalidate(tags: readonly string[]): void {
    this.c.flowsInvalidated += this.flows.invalidateTags(tags).length;
  }

  flushFlows(): void {
    for (const f of [...this.flows]) if (this.flows.delete(f)) this.c.flowsInvalidated++;
  }

  execute(frame: Uint8Array, actions: readonly DpAction[]): void {
    if (this.closed) return;
    this.run(frame, compileActions(actions));
    this.flushOutputs();
  }

  sendFlowState(remoteIp: string, payload: Uint8Array): void {
    if (this.closed) return;
    this.tunnelOut.push({ innerFrame: payload, tunnelKey: TUNNEL_KEY_FLOW_STATE, remoteIp });
    this.flushOutputs();
  }

  onUpcall(cb: (batch: readonly DpUpcall[]) => void): void {
    this.upcallCb = cb;
  }

  onFlowState(cb: (datagram: DpFlowStateDatagram) => void): void {
    this.flowStateCb = cb;
  }

  stats(): Promise<DatapathStats> {
    const t = this.options.tunnel.stats();
    const f = this.flows.stats();
    const ports: DatapathPortStats[] = [...this.ports.values()].map((p) => {
      const s = p.io.stats();
      return { port: p.port, ifname: p.ifname, rxFrames: s.received, txFrames: s.sent, txFailed: s.sendFailed, kernelDrops: s.kernelDrops };
    });
    return Promise.resolve({
      ...this.c, flows: f.flows, masks: f.masks, tunnelMalformedDropped: t.malformedDropped + t.unknownRemoteDropped, ports,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.expireTimer);
    for (const p of this.ports.values()) p.io.close();
    this.ports.clear();
    await this.options.tunnel.close();
  }

  /** One frame from a local port: the fast path, or an upcall. */
  private receive(port: number, frame: Uint8Array, upcalls: DpUpcall[]): void {
    if (!extractFlowKey(frame, port, 0, this.key)) {
      this.c.malformedDropped++;
      return;
    }
    const flow = this.flows.lookup(this.key);
    if (flow !== undefined) {
      this.c.hits++;
      this.flows.hit(flow, 1, frame.length, this.clock());
      this.run(frame, flow.actions);
      return;
    }
    if (upcalls.length >= this.maxPendingUpcalls) {
      this.c.upcallQueueDropped++;
      return;
    }
    this.c.upcalls++;
    upcalls.push({ port, frame: frame.slice() });
  }

  private deliverUpcalls(upcalls: DpUpcall[]): void {
    if (upcalls.length === 0) return;
    if (this.upcallCb === undefined) this.c.upcallQueueDropped += upcalls.length;
    else this.upcallCb(upcalls);
  }

  private onTunnelFrames(batch: TunnelFrame[]): void {
    for (const f of batch) {
      if (f.tunnelKey === TUNNEL_KEY_FLOW_STATE) {
        this.flowStateCb?.({ remoteIp: f.remoteIp, payload: f.innerFrame });
        continue;
      }
      const port = this.ports.get(this.tunnelKeys.get(f.tunnelKey & ~TUNNEL_KEY_TRACE_BIT) ?? -1);
      if (port === undefined) {
        this.c.unknownTunnelKeyDropped++;
        continue;
      }
      this.c.tunnelDelivered++;
      port.out.push(f.innerFrame);
    }
    this.flushOutputs();
  }

  /** Applies the actions; outputs are queued per port and sent by flushOutputs. */
  private run(frame: Uint8Array, actions: CompiledActions): void {
    let current = frame;
    for (const seg of actions.segments) {
      if (seg.mods.length > 0) {
        const rewritten = applyModifications(current, seg.mods);
        if (isDecodeError(rewritten)) return;
        current = rewritten;
      }
      for (const o of seg.outputs) {
        if (o.kind === 'output') this.ports.get(o.port)?.out.push(current);
        else if (o.kind === 'tunnel') this.tunnelOut.push({ innerFrame: current, tunnelKey: o.key, remoteIp: o.remoteIp });
      }
    }
  }

  private flushOutputs(): void {
    for (const p of this.ports.values()) {
      if (p.out.length === 0) continue;
      // A received frame is a view of the port's reusable batch buffer: send() copies before returning.
      p.io.send(p.out);
      p.out = [];
    }
    if (this.tunnelOut.length > 0) {
      const frames = this.tunnelOut;
      this.tunnelOut = [];
      this.c.tunnelSent += frames.length;
      // The tunnel copies lazily (it queues): hand it frames that own their bytes.
      void this.options.tunnel.send(frames.map((f) => (f.innerFrame.byteOffset === 0 && f.innerFrame.byteLength === f.innerFrame.buffer.byteLength ? f : { ...f, innerFrame: f.innerFrame.slice() })));
    }
  }
}

/** Splits actions into rewrite runs each followed by its outputs. */
export function compileActions(actions: readonly DpAction[]): CompiledActions {
  const segments: { mods: HeaderModification[]; outputs: DpAction[] }[] = [];
  let cur: { mods: HeaderModification[]; outputs: DpAction[] } = { mods: [], outputs: [] };
  for (const a of actions) {
    if (a.kind === 'output' || a.kind === 'tunnel') {
      cur.outputs.push(a);
      continue;
    }
    if (cur.outputs.length > 0) {
      segments.push(cur);
      cur = { mods: [], outputs: [] };
    }
    cur.mods.push(a);
  }
  if (cur.outputs.length > 0) segments.push(cur);
  return { segments };
}
