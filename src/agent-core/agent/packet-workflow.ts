// The packet's way through one agent, without the I/O (DESIGN: The packet's way, steps 2-6): flow
// table lookup, upcall into the simulator on a miss, state applied before the flow is installed,
// generated packets walked from their port, actions executed on the frame. The datapath shell
// feeds it frames and sends what it returns; tests and the simulated lab drive it directly.
import { MegaflowTable, type Flow, type FlowTimeouts } from '../flows/index.js';
import {
  FrameLayout, KEY_WORDS, applyModifications, extractFlowKey, flowMatchFromFrame, isDecodeError,
  type DecodeError, type HeaderModification,
} from '../packet/index.js';
import { simulate, simulateGenerated, type FlowAction, type Missing, type SimulationResult, type SimulationViews } from '../simulation/index.js';
import type { Id } from '../topology/index.js';
import type { LocalTables } from './local-tables.js';

export type FlowActions = readonly FlowAction[];

/** What the workflow's table keeps of a flow: its actions, and the longest IP packet they hold for. */
export interface GuardedActions {
  readonly actions: FlowActions;
  /** SimulationResult.maxIpLength: a longer packet that matches goes to the simulator instead. */
  readonly maxIpLength: number;
}

/**
 * Flow lifetimes by expiry class (DESIGN: Flows). Drop flows last seconds, so that a drop stops
 * once what caused it changes even where no tag names the cause; stateful flows end before their
 * state (60 s idle).
 */
export const FLOW_TIMEOUTS: Readonly<Record<SimulationResult['expiry'], FlowTimeouts>> = {
  drop: { idleMs: 0, hardMs: 5_000 },
  normal: { idleMs: 60_000, hardMs: 0 },
  stateful: { idleMs: 30_000, hardMs: 30_000 },
};

/** Bound on generated packets walked per upcall (each may generate more: an ARP request floods). */
const MAX_GENERATED_WALKS = 64;

export interface PortOutput {
  readonly portId: Id;
  readonly frame: Uint8Array;
}

/** One generated packet walked from the port that emitted it: what the walk decided and sent. */
export interface GeneratedWalk {
  readonly result: SimulationResult;
  readonly outputs: readonly PortOutput[];
}

/**
 * What became of a frame. On an upcall, `outputs` holds the generated walks' outputs first (in
 * `walks` order), then the frame's own; `flow` is the flow installed for it, if any.
 */
export type PacketDisposition =
  | { readonly kind: 'fastPath'; readonly flow: Flow<GuardedActions>; readonly outputs: readonly PortOutput[] }
  | {
    readonly kind: 'simulated'; readonly result: SimulationResult; readonly outputs: readonly PortOutput[]; readonly installed: boolean;
    readonly flow: Flow<GuardedActions> | undefined; readonly walks: readonly GeneratedWalk[];
  }
  /** NotYet: the caller parks the frame until `missing` arrives; outputs carry e.g. an ARP request. */
  | {
    readonly kind: 'parked'; readonly result: SimulationResult; readonly missing: readonly Missing[]; readonly outputs: readonly PortOutput[];
    readonly walks: readonly GeneratedWalk[];
  }
  | Malformed;

export interface Malformed {
  readonly kind: 'malformed';
  readonly error: DecodeError | undefined;
}

/** The slow path's answer for a datapath with its own flow table (PacketWorkflow.simulateMiss). */
export interface SimulatedMiss {
  readonly kind: 'simulatedMiss';
  readonly result: SimulationResult;
  readonly walks: readonly GeneratedWalk[];
  /** Flow tags the state changes of the packet and of its generated packets made stale (already dropped from this workflow's own table). */
  readonly stale: readonly string[];
}

export interface WorkflowCounters {
  packets: number;
  fastPath: number;
  simulations: number;
  installs: number;
  parked: number;
  malformed: number;
  generated: number;
  /** Flows dropped by invalidation: state or topology they depended on changed or idled out (not flow timeouts). */
  invalidated: number;
}

export class PacketWorkflow {
  readonly flows = new MegaflowTable<GuardedActions>();
  readonly counters: WorkflowCounters = { packets: 0, fastPath: 0, simulations: 0, installs: 0, parked: 0, malformed: 0, generated: 0, invalidated: 0 };
  private readonly portNumbers = new Map<Id, number>();
  private readonly key = new Float64Array(KEY_WORDS);
  private readonly layout = new FrameLayout();
  /** Record each simulation's walk in its result's `trace` (the agent does while it logs at debug level). */
  trace = false;

  constructor(
    private readonly views: SimulationViews,
    private readonly tables: LocalTables,
  ) {}

  /** The datapath number of a virtual port (the flow key's InPort), assigned on first use. */
  portNumber(portId: Id): number {
    let n = this.portNumbers.get(portId);
    if (n === undefined) this.portNumbers.set(portId, (n = this.portNumbers.size + 1));
    return n;
  }

  /** One frame that entered on an exterior virtual port. */
  handle(frame: Uint8Array, ingressPortId: Id, now: number): PacketDisposition {
    this.counters.packets++;
    const inPort = this.portNumber(ingressPortId);
    if (!extractFlowKey(frame, inPort, 0, this.key, this.layout)) {
      this.counters.malformed++;
      return { kind: 'malformed', error: undefined };
    }
    const flow = this.flows.lookup(this.key);
    if (flow !== undefined && this.layout.unfragmentableLength(frame) <= flow.actions.maxIpLength) {
      this.counters.fastPath++;
      this.flows.hit(flow, 1, frame.length, now);
      return { kind: 'fastPath', flow, outputs: executeActions(frame, flow.actions.actions) };
    }
    const miss = this.simulateMiss(frame, ingressPortId, now, inPort);
    if (miss.kind === 'malformed') return miss;
    const { result, walks } = miss;
    const outputs = walks.flatMap((w) => w.outputs);
    if (result.outcome.kind === 'notYet') {
      this.counters.parked++;
      return { kind: 'parked', result, missing: result.outcome.missing, outputs, walks };
    }
    let installed: Flow<GuardedActions> | undefined;
    if (result.installFlow) {
      const guarded = { actions: result.actions, maxIpLength: result.maxIpLength };
      installed = this.flows.install(result.match.orig, result.match.seen, guarded, result.tags, FLOW_TIMEOUTS[result.expiry], now);
      this.counters.installs++;
    }
    outputs.push(...executeActions(frame, result.actions));
    return { kind: 'simulated', result, outputs, installed: installed !== undefined, flow: installed, walks };
  }

  /**
   * The slow path alone, for a datapath that keeps its own flow table: simulates the frame, applies
   * its state changes to the local tables (dropping the flows of this table they make stale) and
   * walks the packets it generated. The caller installs and executes `result.actions`.
   */
  simulateMiss(frame: Uint8Array, ingressPortId: Id, now: number, inPort = this.portNumber(ingressPortId)): SimulatedMiss | Malformed {
    const match = flowMatchFromFrame(frame, inPort);
    if (isDecodeError(match)) {
      this.counters.malformed++;
      return { kind: 'malformed', error: match };
    }
    this.counters.simulations++;
    const result = simulate({ frame, match, ingressPortId, trace: this.trace }, this.views);
    // State first, then invalidation, then the install: a MAC this packet taught must not
    // invalidate the flow it is about to install.
    const stale = this.tables.apply(result.stateChanges, now);
    this.invalidateFlows(stale);
    // The generated packets' state (an ARP reply learned on the way) makes flows stale too.
    return { kind: 'simulatedMiss', result, walks: this.walkGenerated(result, now, stale), stale };
  }

  /** A topology or table change: drop the flows that depend on it. */
  invalidate(tags: Iterable<string>): number {
    return this.invalidateFlows(tags).length;
  }

  /** As invalidate, returning the flows it dropped (for callers that report which). */
  invalidateFlows(tags: Iterable<string>): readonly Flow<GuardedActions>[] {
    const gone = this.flows.invalidateTags(tags);
    this.counters.invalidated += gone.length;
    return gone;
  }

  /** Expires idle state and the flows that depended on it, then idle/hard-timed-out flows. */
  expire(now: number): number {
    const byState = this.invalidateFlows(this.tables.expire(now)).length;
    return byState + this.flows.expire(now).length;
  }

  /** Walks the generated packets; the tags their state changes make stale are added to `stale`. */
  private walkGenerated(result: SimulationResult, now: number, stale: string[] = []): GeneratedWalk[] {
    const walked: GeneratedWalk[] = [];
    const queue = [...result.generated];
    for (let walks = 0; queue.length > 0 && walks < MAX_GENERATED_WALKS; walks++) {
      const g = queue.shift()!;
      this.counters.generated++;
      const r = simulateGenerated(g.frame, g.egressPortId, this.views, this.trace);
      const walkStale = this.tables.apply(r.stateChanges, now);
      this.invalidateFlows(walkStale);
      stale.push(...walkStale);
      queue.push(...r.generated);
      walked.push({ result: r, outputs: executeActions(g.frame, r.actions) });
    }
    return walked;
  }
}

/** Runs an action list on a frame: rewrites accumulate; each output emits the frame as it is then. */
export function executeActions(frame: Uint8Array, actions: FlowActions): PortOutput[] {
  const outputs: PortOutput[] = [];
  let current = frame;
  let pending: HeaderModification[] = [];
  for (const a of actions) {
    if (a.kind !== 'output') {
      pending.push(a);
      continue;
    }
    if (pending.length > 0) {
      const rewritten = applyModifications(current, pending);
      if (isDecodeError(rewritten)) return outputs;
      current = rewritten;
      pending = [];
    }
    outputs.push({ portId: a.portId, frame: current });
  }
  return outputs;
}
