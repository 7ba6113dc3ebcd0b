// The mutable state of one simulation run: the match being rewritten, the actions, tags and state
// changes collected on the way. Created by the simulator, passed to device and chain code.
import { Field, VLAN_NONE, type FlowMatch, type HeaderModification } from '../packet/flow-match.js';
import type { Id } from '../topology/types.js';
import type { FlowAction, GeneratedPacket, Missing, SimulationInput, SimulationViews, StateChange } from './types.js';

/** More devices than this in one walk is a loop (DESIGN: Loop guard). */
export const MAX_DEVICES_TRAVERSED = 12;

export class SimContext {
  readonly actions: FlowAction[] = [];
  readonly generated: GeneratedPacket[] = [];
  /** The flow's tags, each once, in the order first met (a small array: a Set grew and rehashed on every walk). */
  readonly tags: string[] = [];
  readonly stateChanges: StateChange[] = [];
  /** The walk's lines, when the input asked for them (`tracing`); empty otherwise. */
  readonly trace: string[] = [];
  /** Whether to record `trace`: every line is pushed under `if (ctx.tracing)`, so an untraced walk builds no string for it. */
  readonly tracing: boolean;
  readonly missing: Missing[] = [];
  devicesTraversed = 0;
  installFlow = true;
  /** Set when a stateful path (conntrack, dynamic NAT) was taken: flow expiry follows state expiry. */
  stateful = false;
  /**
   * The longest IP packet (bytes) this walk's decisions hold for: the smallest egress MTU a router
   * checked on the way. The length is not part of the match, so the flow carries this bound and
   * the fast path hands a longer packet to the slow path, which answers it (DESIGN: Router).
   */
  maxIpLength = Infinity;
  /** The port the packet entered the current device on, and the one it will leave by (once routed). */
  inPortId: Id;
  outPortId: Id | undefined = undefined;
  /** The first device the packet entered (its ingress device). */
  readonly ingressDeviceId: Id;

  constructor(
    readonly views: SimulationViews,
    readonly input: SimulationInput,
    public match: FlowMatch,
    ingressDeviceId: Id,
  ) {
    this.inPortId = input.ingressPortId;
    this.tracing = input.trace === true;
    this.ingressDeviceId = ingressDeviceId;
  }

  /** Applies a header rewrite to the match and records it as an action (in order with outputs). */
  modify(m: HeaderModification): void {
    if (m.kind === 'setField') {
      if (typeof m.value === 'bigint' || m.field === Field.IpSrc || m.field === Field.IpDst || m.field === Field.NdTarget) {
        this.match.setIp(m.field, m.value);
      } else {
        this.match.set(m.field, m.value);
      }
    } else if (m.kind === 'pushVlan') {
      // The tag moves inwards, and a later pop brings it back: what follows may depend on the
      // original value, so it is read (seen), not peeked.
      this.match.set(Field.InnerVlanId, this.match.get(Field.VlanId));
      this.match.set(Field.VlanId, m.vlanId);
    } else if (m.kind === 'popVlan') {
      // The inner tag becomes the frame's VLAN, which the next bridge learns and looks up in: the
      // flow must match the inner tag the packet came with.
      this.match.set(Field.VlanId, this.match.get(Field.InnerVlanId));
      this.match.set(Field.InnerVlanId, VLAN_NONE);
    }
    // decTtl leaves the clamped TTL class alone: expiry was decided before the rewrite.
    this.actions.push(m);
  }

  tag(t: string): void {
    if (!this.tags.includes(t)) this.tags.push(t);
  }

  notYet(m: Missing): void {
    this.missing.push(m);
  }
}
