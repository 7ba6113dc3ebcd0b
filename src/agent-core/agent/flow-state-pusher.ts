// The agent's side of the flow-state push (DESIGN: Flow state): resolves a simulation's interested
// set, sends its conntrack and NAT entries through the datapath's tunnel (key 0xFFFFFF) ahead of the
// data packet, and hands imported entries back to the agent.
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

  /** Sends the simulation's conntrack and NAT entries to the interested hosts now. */
  push(
    ingressPortId: Id, egressPortIds: readonly Id[], changes: readonly StateChange[],
    hostOfPort: (portId: Id) => Id | undefined, topology: Pick<TopologyView, 'portGroupsOf' | 'portGroup'>,
  ): number {
    const t = this.transport;
    if (t === undefined || !t.running) return 0;
    const entries = flowStateEntriesOf(changes);
    if (entries.length === 0) return 0;
    const set = resolveInterestedSet({ ingressPortId, egressPortIds, topology, hostOfPort, localHostId: this.options.hostId });
    if (set.unboundPorts.length > 0) this.unresolvedPorts += set.unboundPorts.length;
    if (set.hosts.length === 0) return 0;
    return t.pushFlowState({ ingressPortId, egressPortIds, entries }, set.hosts);
  }

  flush(): void {
    if (this.transport?.running === true) this.transport.flush();
  }

  counters(): (FlowStateCounters & { unresolvedPorts: number }) | { unresolvedPorts: number } {
    return this.transport === undefined ? { unresolvedPorts: this.unresolvedPorts } : { ...this.transport.counters(), unresolvedPorts: this.unresolvedPorts };
  }

  async stop(): Promise<void> {
    await this.transport?.stop();
  }
}
