// The agent's side of the flow-state push (DESIGN: Flow state): resolves a simulation's interested
// set, queues its conntrack and NAT entries, and sends what was queued through the datapath's tunnel
// (key 0xFFFFFF) at flush, ahead of the data packets, and hands imported entries back to the agent.
import type { Logger } from 'pino';
import type { Datapath } from '../datapath/datapath.js';
import {
  FlowStateTransport, datapathFlowStateChannel, flowStateEntriesOf, resolveInterestedSet,
  type FlowStateCounters, type ImportedState, type PeerAddress,
} from '../flowstate/index.js';
import type { StateChange } from '../simulation/index.js';
import type { Id, TopologyView } from '../topology/index.js';

export interface FlowStatePusherOptions {
  readonly hostId: Id;
  readonly datapath: Datapath;
  readonly clusterKey?: string | Uint8Array;
  readonly resolvePeer: (hostId: Id) => PeerAddress | undefined;
  readonly logger?: Logger;
  readonly retransmitTimeoutMs?: number;
  readonly maxRetries?: number;
}

export class FlowStatePusher {
  private transport: FlowStateTransport | undefined;
  private onImport: ((imported: ImportedState) => void) | undefined;
  /** Pushes whose interested set had ports of unknown binding (those hosts may miss the state). */
  unresolvedPorts = 0;
  /**
   * Interested sets resolved since the last flush, by ingress and egress ports: new flows of one
   * slice mostly share their ports, and nothing the resolution reads changes within a slice.
   */
  private readonly sets = new Map<string, { readonly hosts: readonly Id[]; readonly unbound: number }>();

  constructor(private readonly options: FlowStatePusherOptions) {}

  async start(onImport: (imported: ImportedState) => void): Promise<void> {
    this.onImport = onImport;
    const o = this.options;
    this.transport = new FlowStateTransport({
      hostId: o.hostId,
      channel: datapathFlowStateChannel(o.datapath),
      clusterKey: o.clusterKey,
      resolvePeer: o.resolvePeer,
      onImport: (i) => this.onImport?.(i),
      // A receiver may be busy for a while (a flooded gateway): give it ~0.7 s before a message counts as lost.
      retransmitTimeoutMs: o.retransmitTimeoutMs ?? 100,
      maxRetries: o.maxRetries ?? 6,
      logger: o.logger,
    });
    await this.transport.start();
  }

  /**
   * Queues the simulation's conntrack and NAT entries for the interested hosts; returns how many
   * hosts. Pushes queued until flush() share messages (one per ports and hosts, split to fit a
   * datagram): the caller flushes before it lets the data packets of these flows go.
   */
  push(
    ingressPortId: Id, egressPortIds: readonly Id[], changes: readonly StateChange[],
    hostOfPort: (portId: Id) => Id | undefined, topology: Pick<TopologyView, 'portGroupsOf' | 'portGroup'>,
  ): number {
    const t = this.transport;
    if (t === undefined || !t.running) return 0;
    const entries = flowStateEntriesOf(changes);
    if (entries.length === 0) return 0;
    const key = egressPortIds.length === 1 ? `${ingressPortId}\u0000${egressPortIds[0]}` : `${ingressPortId}\u0000${egressPortIds.join('\u0000')}`;
    let set = this.sets.get(key);
    if (set === undefined) {
      const r = resolveInterestedSet({ ingressPortId, egressPortIds, topology, hostOfPort, localHostId: this.options.hostId });
      this.sets.set(key, (set = { hosts: r.hosts, unbound: r.unboundPorts.length }));
    }
    this.unresolvedPorts += set.unbound;
    if (set.hosts.length === 0) return 0;
    t.enqueue({ ingressPortId, egressPortIds, entries }, set.hosts);
    return set.hosts.length;
  }

  /** Sends what push() queued; interested sets are resolved afresh after it. */
  flush(): void {
    this.sets.clear();
    if (this.transport?.running === true) this.transport.flush();
  }

  counters(): (FlowStateCounters & { unresolvedPorts: number }) | { unresolvedPorts: number } {
    return this.transport === undefined ? { unresolvedPorts: this.unresolvedPorts } : { ...this.transport.counters(), unresolvedPorts: this.unresolvedPorts };
  }

  async stop(): Promise<void> {
    await this.transport?.stop();
  }
}
