// The device walk (DESIGN: The packet's way, step 5; Virtual topology: Port, Loop guard): entering a
// device through a port (inbound chain), leaving through one (outbound chain) to its interior peer
// or out of an exterior port, flood copies, and how the walk ended.
import { FlowMatch, type HeaderModification } from '../packet/flow-match.js';
import { applyModifications, type DecodeError } from '../packet/index.js';
import type { Id, Port, TopologyView } from '../topology/types.js';
import { processBridge } from './bridge.js';
import { chainError, chainErrorCause, evaluateChain } from './chains.js';
import { MAX_DEVICES_TRAVERSED, type SimContext } from './context.js';
import { IcmpErrorKind, sendIcmpError } from './icmp-errors.js';
import { countOutputs, endAfterLastOutput, undoRewrites } from './rewrite-undo.js';
import { processRouter } from './router.js';
import { deviceTag } from './tags.js';
import type { DropCause, FlowAction, Missing, SimulationOutcome, SimulationResult, StateChange } from './types.js';

/**
 * Device entries allowed in one simulation over all flood copies together: the loop guard bounds
 * each path, this bounds a flood fanning out through a mesh of bridges (treated as a loop too).
 */
export const MAX_DEVICE_VISITS = 256;

type ObjectType = Extract<Missing, { kind: 'device' }>['objectType'];

const outputActions = new Map<Id, FlowAction>();
function outputAction(portId: Id): FlowAction {
  let a = outputActions.get(portId);
  if (a === undefined) {
    if (outputActions.size >= 1 << 16) outputActions.clear();
    a = Object.freeze({ kind: 'output', portId });
    outputActions.set(portId, a);
  }
  return a;
}

const FORWARD: SimulationOutcome = Object.freeze({ kind: 'forward' });
const NO_ACTIONS: readonly FlowAction[] = Object.freeze([]);

/** One simulation's walk: the context plus how each path ended, folded into one outcome. */
export class Walker {
  readonly topo: TopologyView;
  /** Outputs recorded so far (over every flood copy). */
  outputs = 0;
  /** decTtl rewrites on the current path: a later router must judge the TTL they left. */
  ttlDecrements = 0;
  /** Length of the action list when the packet entered the router now deciding: what its ICMP errors quote. */
  routerEntryActions = 0;
  private visits = 0;
  private dropReason: string | undefined = undefined;
  private dropError = false;
  private dropCause: DropCause | undefined = undefined;
  private consumedReason: string | undefined = undefined;
  private loopReason: string | undefined = undefined;

  constructor(readonly ctx: SimContext) {
    this.topo = ctx.views.topology;
  }

  // ---- how a path ends -------------------------------------------------------------------------

  drop(reason: string, error = false, cause?: DropCause): void {
    if (this.ctx.tracing) this.ctx.trace.push(`drop: ${reason}`);
    if (this.dropReason === undefined || (error && !this.dropError)) {
      this.dropReason = reason;
      this.dropError = error;
      this.dropCause = cause;
    }
  }

  consume(reason: string): void {
    if (this.ctx.tracing) this.ctx.trace.push(`consumed: ${reason}`);
    this.consumedReason ??= reason;
  }

  missing(objectType: ObjectType, id: Id): void {
    if (this.ctx.tracing) this.ctx.trace.push(`not yet: ${objectType} ${id}`);
    this.ctx.notYet({ kind: 'device', objectType, id });
  }

  /** A packet a device emits (reply, ICMP error, ARP request); false when the builder refused. */
  generate(egressPortId: Id, frame: Uint8Array | DecodeError): boolean {
    if (!(frame instanceof Uint8Array)) {
      if (this.ctx.tracing) this.ctx.trace.push(`cannot build a packet for port ${egressPortId}: ${frame.kind}`);
      return false;
    }
    this.ctx.generated.push({ egressPortId, frame });
    return true;
  }

  // ---- chains ----------------------------------------------------------------------------------

  /**
   * Evaluates a chain at a device; true = go on. A reject at a router (routerIn = the port the packet
   * entered the router on) answers ICMP administratively prohibited; at a bridge it drops.
   */
  chain(chainId: Id | undefined, deviceId: Id, routerIn: Port | undefined): boolean {
    if (chainId === undefined) return true;
    const ctx = this.ctx;
    const v = evaluateChain(ctx, chainId, deviceId);
    if (v === 'accept') return true;
    if (v === 'notYet') {
      if (ctx.missing.length === 0) ctx.notYet({ kind: 'device', objectType: 'chain', id: chainId });
      return false;
    }
    if (v === 'reject' && routerIn !== undefined) {
      sendIcmpError(this, routerIn, IcmpErrorKind.Filtered, `rejected by chain ${chainId}`);
      return false;
    }
    const err = chainError(ctx);
    this.drop(err ?? `${v === 'reject' ? 'rejected' : 'dropped'} by chain ${chainId}`, err !== undefined, chainErrorCause(ctx));
    return false;
  }

  // ---- ports -----------------------------------------------------------------------------------

  /** The packet arrives at a port from outside its device; `depth` devices were entered before. */
  enterPort(portId: Id, depth: number): void {
    const ctx = this.ctx;
    const port = this.topo.port(portId);
    if (port === undefined) return this.missing('port', portId);
    ctx.tag(deviceTag(portId));
    if (!port.adminStateUp) return this.drop(`port ${portId} is down`);
    if (depth >= MAX_DEVICES_TRAVERSED) {
      this.loopReason ??= `loop: more than ${MAX_DEVICES_TRAVERSED} devices traversed (at port ${portId})`;
      return;
    }
    if (++this.visits > MAX_DEVICE_VISITS) {
      this.loopReason ??= `loop: more than ${MAX_DEVICE_VISITS} device visits in one flood`;
      return;
    }
    ctx.inPortId = portId;
    ctx.outPortId = undefined;
    if (ctx.tracing) ctx.trace.push(`port ${portId}: in`);
    const isRouter = port.deviceType === 'router';
    if (isRouter) this.routerEntryActions = ctx.actions.length;
    if (!this.chain(port.inboundChainId, port.deviceId, isRouter ? port : undefined)) return;
    if (depth + 1 > ctx.devicesTraversed) ctx.devicesTraversed = depth + 1;
    if (isRouter) processRouter(this, port, depth + 1);
    else processBridge(this, port, depth + 1);
  }

  /**
   * The packet leaves its device through `portId` (outbound chain), into the peer of an interior
   * port or out of an exterior one. routerIn: the port it entered the router on, for ICMP errors.
   */
  leavePort(portId: Id, depth: number, routerIn: Port | undefined): void {
    const ctx = this.ctx;
    const port = this.topo.port(portId);
    if (port === undefined) return this.missing('port', portId);
    ctx.tag(deviceTag(portId));
    if (!port.adminStateUp) return this.drop(`port ${portId} is down`);
    ctx.outPortId = portId;
    if (!this.chain(port.outboundChainId, port.deviceId, routerIn)) return;
    if (port.peerId !== undefined) {
      if (ctx.tracing) ctx.trace.push(`port ${portId}: to peer ${port.peerId}`);
      return this.enterPort(port.peerId, depth);
    }
    if (ctx.tracing) ctx.trace.push(`port ${portId}: output`);
    ctx.actions.push(outputAction(portId));
    this.outputs++;
  }

  /**
   * Runs `count` copies of the packet from this point (a flood). Each copy starts from the same
   * headers; the rewrites one copy made before its last output are undone before the next copy.
   * A copy whose rewrites cannot be undone is moved last; a second such copy is dropped.
   */
  copies(count: number, run: (i: number) => void): void {
    const ctx = this.ctx;
    const root = ctx.match;
    const inPort = ctx.inPortId;
    const outPort = ctx.outPortId;
    const ttl = this.ttlDecrements;
    let deferred: FlowAction[] | undefined;
    for (let i = 0; i < count && this.loopReason === undefined; i++) {
      const m = root.fork();
      ctx.match = m;
      ctx.inPortId = inPort;
      ctx.outPortId = outPort;
      this.ttlDecrements = ttl;
      const start = ctx.actions.length;
      run(i);
      root.absorbSeen(m);
      const end = endAfterLastOutput(ctx.actions, start);
      ctx.actions.length = end;
      if (end === start) continue;
      const undo = undoRewrites(ctx.actions, start, end, root);
      if (undo !== undefined) {
        for (const u of undo) ctx.actions.push(u);
        continue;
      }
      const segment = ctx.actions.splice(start);
      if (deferred === undefined) {
        deferred = segment;
      } else {
        this.outputs -= countOutputs(segment);
        if (ctx.tracing) ctx.trace.push('flood copy dropped: its TTL or ICMP-payload rewrites cannot be undone for another copy');
      }
    }
    if (deferred !== undefined) for (const a of deferred) ctx.actions.push(a);
    ctx.match = root;
    ctx.inPortId = inPort;
    ctx.outPortId = outPort;
    this.ttlDecrements = ttl;
  }

  /**
   * The packet as rewritten so far on this path (what a reply answers), or as it was when the
   * action list was `upTo` long (what an ICMP error quotes).
   */
  currentFrame(upTo = this.ctx.actions.length): Uint8Array | undefined {
    const { actions, input } = this.ctx;
    let mods: HeaderModification[] | undefined;
    for (let i = 0; i < upTo; i++) {
      const a = actions[i];
      if (a.kind === 'output') continue;
      (mods ??= []).push(a);
    }
    if (mods === undefined) return input.frame;
    const f = applyModifications(input.frame, mods);
    return f instanceof Uint8Array ? f : undefined;
  }

  // ---- the result ------------------------------------------------------------------------------

  result(): SimulationResult {
    const ctx = this.ctx;
    const loop = this.loopReason !== undefined;
    let outcome: SimulationOutcome;
    if (this.loopReason !== undefined) outcome = { kind: 'drop', error: true, reason: this.loopReason };
    else if (ctx.missing.length > 0) outcome = { kind: 'notYet', missing: ctx.missing };
    else if (this.outputs > 0) outcome = FORWARD;
    else if (this.consumedReason !== undefined) outcome = { kind: 'consumed', reason: this.consumedReason };
    else if (this.dropCause !== undefined) outcome = { kind: 'drop', error: this.dropError, reason: this.dropReason ?? 'no output', cause: this.dropCause };
    else outcome = { kind: 'drop', error: this.dropError, reason: this.dropReason ?? 'no output' };
    if (loop && ctx.tracing) ctx.trace.push(`drop: ${this.loopReason}`);

    let actions: readonly FlowAction[] = NO_ACTIONS;
    if (outcome.kind === 'forward') {
      ctx.actions.length = endAfterLastOutput(ctx.actions, 0);
      actions = ctx.actions;
    }
    const generated = loop ? [] : ctx.generated;
    // A flow replays actions only: a path that answered or emitted packets must see each packet.
    const installFlow = ctx.installFlow && (outcome.kind === 'forward' || outcome.kind === 'drop') && generated.length === 0;
    return {
      outcome,
      actions,
      generated,
      match: ctx.match,
      tags: ctx.tags,
      stateChanges: loop ? [] : outcome.kind === 'forward' ? ctx.stateChanges : ctx.stateChanges.filter(isLearning),
      installFlow,
      expiry: outcome.kind === 'drop' ? 'drop' : ctx.stateful ? 'stateful' : 'normal',
      maxIpLength: ctx.maxIpLength,
      trace: ctx.trace,
    };
  }
}

/**
 * Connection state belongs to packets that went through: a dropped probe that asked for connState
 * must not leave a forward key behind, or the real connection's first packet would look like a
 * reply. What a bridge or router learned on the way (MACs, ARP) stays true whatever the outcome.
 */
function isLearning(c: StateChange): boolean {
  return c.kind === 'macLearned' || c.kind === 'arpLearned';
}

/** A result for a frame that could not be decoded at all (simulateGenerated). */
export function undecodableResult(reason: string): SimulationResult {
  return {
    outcome: { kind: 'drop', error: true, reason },
    actions: NO_ACTIONS,
    generated: [],
    match: FlowMatch.empty(),
    tags: [],
    stateChanges: [],
    installFlow: false,
    expiry: 'drop',
    maxIpLength: Infinity,
    trace: [`drop: ${reason}`],
  };
}
