// The Datapath on the calling thread: AF_PACKET ports and one tunnel port feeding the core's
// megaflow table; hits are executed here, misses go up as batched upcalls, tunnel frames go straight
// to the port their key names (DESIGN: The packet's way, steps 1-3 and 6). The worker datapath runs
// this same engine on its own thread.
//
// A received frame is rewritten where it lies in the port's batch buffer (valid until the batch
// callback returns) and sent from there: each port's outputs leave in one send at the end of the
// batch, with no copy unless one frame goes out twice with different rewrites.
import { type Flow, MegaflowTable } from '../flows/index.js';
import {
  FIELD_OFFSET, Field, FrameLayout, KEY_WORDS, type RewritePlan, TUNNEL_KEY_FLOW_STATE, TUNNEL_KEY_TRACE_BIT, applyRewritePlan,
  compileRewritePlan, completeL4Checksum, extractFlowKey, isDecodeError, type HeaderModification,
} from '../packet/index.js';
import { AfPacketPort, FrameBatch, FrameFlag, type AfPacketOptions } from './af-packet.js';
import type {
  Datapath, DatapathPortStats, DatapathStats, DpAction, DpFlowSpec, DpFlowStateDatagram, DpPortSpec, DpUpcall,
} from './datapath.js';
import { FrameOutQueue } from './frame-out-queue.js';
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
  /** Milliseconds, monotonic; default performance.now. Read once per received batch. */
  readonly clock?: () => number;
  /**
   * Upcalls the consumer can take now (e.g. a worker's room before its in-flight bound); read once
   * per received batch. A missed frame past it is counted in upcallQueueDropped without being copied.
   */
  readonly upcallRoom?: () => number;
}

type OutputAction = Extract<DpAction, { kind: 'output' | 'tunnel' }>;

/** A run of rewrites (compiled; undefined = none) followed by the outputs that send its result. */
interface ActionSegment {
  readonly rewrite: RewritePlan | undefined;
  readonly outputs: readonly OutputAction[];
}

/** A flow's actions split into runs of rewrites, each ending in outputs. */
interface CompiledActions {
  readonly segments: readonly ActionSegment[];
  /** DpFlowSpec.maxIpLength (Infinity: any length); set at install. */
  maxIpLength: number;
  /** The installed flow these are the actions of (its counters take the hits); set at install. */
  flow?: Flow<CompiledActions>;
}

interface OpenPort {
  readonly port: number;
  readonly ifname: string;
  readonly io: AfPacketPort;
  /** Frames queued for this port during the current batch. */
  readonly out: FrameOutQueue;
  /** Frames lost to a send that threw (e.g. ENETDOWN), counted in txFailed. */
  sendErrorFrames: number;
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
  /** The layout of the frame being handled, as extractFlowKey found it. */
  private readonly layout = new FrameLayout();
  private readonly clock: () => number;
  /** The clock at the start of the current batch. */
  private now = 0;
  /** Hits of the current batch not yet added to their flow: consecutive frames of one flow add up. */
  private hitFlow: Flow<CompiledActions> | undefined;
  private hitPackets = 0;
  private hitBytes = 0;
  private readonly maxPendingUpcalls: number;
  private readonly expireTimer: ReturnType<typeof setInterval>;
  private upcallCb: ((batch: readonly DpUpcall[]) => void) | undefined;
  private flowStateCb: ((d: DpFlowStateDatagram) => void) | undefined;
  private tunnelOut: TunnelFrame[] = [];
  private closed = false;
  private readonly c = {
    hits: 0, upcalls: 0, oversizeUpcalls: 0, upcallQueueDropped: 0, malformedDropped: 0, unknownTunnelKeyDropped: 0, tunnelDelivered: 0,
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
    const open: OpenPort = { port, ifname: spec.ifname, io, out: new FrameOutQueue(), sendErrorFrames: 0 };
    this.ports.set(port, open);
    io.onFrames((batch) => this.receiveBatch(port, batch));
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
    const compiled = compileActions(flow.actions);
    if (flow.maxIpLength !== undefined) compiled.maxIpLength = flow.maxIpLength;
    // The fast path reads the actions from the flow's slot (lookupActions) and reaches the flow through them.
    compiled.flow = this.flows.install(flow.key, flow.mask, compiled, tags, flow.timeouts, this.clock());
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
    // The caller's frame is never changed: rewrites go to a copy.
    this.run(frame, compileActions(actions), false, undefined);
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
      return {
        port: p.port, ifname: p.ifname, rxFrames: s.received, txFrames: s.sent, txFailed: s.sendFailed + p.sendErrorFrames, kernelDrops: s.kernelDrops,
      };
    });
    return Promise.resolve({
      ...this.c, flows: f.flows, masks: f.masks, tunnelMalformedDropped: t.malformedDropped + t.unknownRemoteDropped,
      tunnelUnknownRemoteDropped: t.unknownRemoteDropped, ports,
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

  /** A batch from a local port: each frame through the fast path or up as an upcall, then every port's sends. */
  private receiveBatch(port: number, batch: FrameBatch): void {
    this.now = this.clock();
    const room = this.options.upcallRoom === undefined ? this.maxPendingUpcalls : Math.min(this.maxPendingUpcalls, this.options.upcallRoom());
    const upcalls: DpUpcall[] = [];
    const { data, offsets, lengths, flags, count } = batch;
    for (let i = 0; i < count; i++) {
      const start = offsets[i]!;
      const frame = data.subarray(start, start + lengths[i]!);
      if (flags !== undefined && (flags[i]! & FrameFlag.CSUM_NOT_READY) !== 0) completeL4Checksum(frame);
      this.receive(port, frame, upcalls, room);
    }
    this.addHits();
    this.flushOutputs();
    this.deliverUpcalls(upcalls);
  }

  /** One frame from a local port: the fast path, or an upcall. */
  private receive(port: number, frame: Uint8Array, upcalls: DpUpcall[], room: number): void {
    if (!extractFlowKey(frame, port, 0, this.key, this.layout)) {
      this.c.malformedDropped++;
      return;
    }
    const actions = this.flows.lookupActions(this.key);
    // A hit longer than its flow's bound goes up for the router to answer (DpFlowSpec.maxIpLength).
    const oversize = actions !== undefined && this.layout.unfragmentableLength(frame) > actions.maxIpLength;
    if (actions !== undefined && !oversize) {
      this.c.hits++;
      if (actions.flow !== this.hitFlow) {
        this.addHits();
        this.hitFlow = actions.flow;
      }
      this.hitPackets++;
      this.hitBytes += frame.length;
      this.run(frame, actions, true, this.layout);
      return;
    }
    if (upcalls.length >= room) {
      this.c.upcallQueueDropped++;
      return;
    }
    this.c.upcalls++;
    if (oversize) this.c.oversizeUpcalls++;
    upcalls.push({ port, frame: frame.slice() });
  }

  /** Adds the pending hits to their flow's counters and idle time. */
  private addHits(): void {
    if (this.hitFlow !== undefined) this.flows.hit(this.hitFlow, this.hitPackets, this.hitBytes, this.now);
    this.hitFlow = undefined;
    this.hitPackets = 0;
    this.hitBytes = 0;
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

  /**
   * Applies the actions; outputs are queued per port and sent by flushOutputs. `inPlace`: the frame's
   * bytes may be rewritten where they are (a received frame); `layout`: the frame's, when known.
   */
  private run(frame: Uint8Array, actions: CompiledActions, inPlace: boolean, layout: FrameLayout | undefined): void {
    let current = frame;
    // Whether current's bytes must stay as they are: the caller's, or already queued for an output.
    let shared = !inPlace;
    for (const seg of actions.segments) {
      if (seg.rewrite !== undefined) {
        if (shared) {
          current = current.slice();
          shared = false;
        }
        const rewritten = applyRewritePlan(current, seg.rewrite, layout);
        if (isDecodeError(rewritten)) return;
        current = rewritten;
        if (!seg.rewrite.keepsLayout) layout = undefined;
      }
      for (const o of seg.outputs) {
        if (o.kind === 'output') this.ports.get(o.port)?.out.push(current);
        else this.tunnelOut.push({ innerFrame: current, tunnelKey: o.key, remoteIp: o.remoteIp });
      }
      if (seg.outputs.length > 0) shared = true;
    }
  }

  private flushOutputs(): void {
    for (const p of this.ports.values()) {
      if (p.out.length === 0) continue;
      const queued = p.out.length;
      try {
        // Received frames are views of their port's reusable batch buffer: sent before it is reused.
        p.out.flush((data, offsets, lengths, count) => p.io.send(new FrameBatch(data, offsets, lengths, count)));
      } catch {
        // The socket failed as a whole (e.g. the link went down): the frames are lost and counted, and
        // the other ports still send (the send used to throw out of the batch callback).
        p.sendErrorFrames += queued;
      }
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

/** Splits actions into rewrite runs each followed by its outputs, each run compiled once. */
export function compileActions(actions: readonly DpAction[]): CompiledActions {
  const segments: ActionSegment[] = [];
  let mods: HeaderModification[] = [];
  let outputs: OutputAction[] = [];
  const close = (): void => {
    segments.push({ rewrite: mods.length > 0 ? compileRewritePlan(mods) : undefined, outputs });
    mods = [];
    outputs = [];
  };
  for (const a of actions) {
    if (a.kind === 'output' || a.kind === 'tunnel') {
      outputs.push(a);
      continue;
    }
    if (outputs.length > 0) close();
    mods.push(a);
  }
  if (outputs.length > 0) close();
  // One shape for every compiled object (flow set at install or not): the fast path reads them monomorphically.
  return { segments, maxIpLength: Infinity, flow: undefined };
}
