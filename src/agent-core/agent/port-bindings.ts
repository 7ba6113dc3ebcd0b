// Which virtual ports this host binds, to which host interface, under which datapath port number
// and tunnel key (DESIGN: Tunnels — a port's key is chosen by the host that binds it and published
// in its active state). Pure bookkeeping; the agent opens the ports and publishes the keys.
import { TUNNEL_KEY_TRACE_BIT } from '../packet/index.js';
import type { Id } from '../topology/index.js';

export interface PortBinding {
  readonly portId: Id;
  readonly ifname: string;
  readonly netns?: string;
  /** The datapath port number: the flow key's InPort. */
  readonly dpPort: number;
  /** The 24-bit key remote hosts tunnel this port's frames with. */
  readonly tunnelKey: number;
}

/** Keys stay below the trace bit (bit 23) and never reach the flow-state key. */
const MAX_KEY = TUNNEL_KEY_TRACE_BIT - 1;

export class PortBindings {
  private readonly byPort = new Map<Id, PortBinding>();
  private readonly byDpPort = new Map<number, PortBinding>();
  /** Datapath port numbers taken by interfaces that are not virtual ports (control ports). */
  private readonly reserved = new Set<number>();
  private nextDpPort = 1;

  bind(portId: Id, ifname: string, netns?: string): PortBinding {
    if (this.byPort.has(portId)) throw new Error(`port ${portId} is bound already (to ${this.byPort.get(portId)!.ifname})`);
    for (const b of this.byPort.values()) {
      if (b.ifname === ifname && b.netns === netns) throw new Error(`interface ${ifname} is bound already (to port ${b.portId})`);
    }
    const dpPort = this.allocate();
    const b: PortBinding = netns === undefined ? { portId, ifname, dpPort, tunnelKey: dpPort } : { portId, ifname, netns, dpPort, tunnelKey: dpPort };
    this.byPort.set(portId, b);
    this.byDpPort.set(dpPort, b);
    return b;
  }

  unbind(portId: Id): PortBinding | undefined {
    const b = this.byPort.get(portId);
    if (b === undefined) return undefined;
    this.byPort.delete(portId);
    this.byDpPort.delete(b.dpPort);
    return b;
  }

  ofPort(portId: Id): PortBinding | undefined {
    return this.byPort.get(portId);
  }

  ofDpPort(dpPort: number): PortBinding | undefined {
    return this.byDpPort.get(dpPort);
  }

  all(): PortBinding[] {
    return [...this.byPort.values()];
  }

  /** A datapath port number for an interface that binds no virtual port (it gets no tunnel key). */
  reserveDpPort(): number {
    const n = this.allocate();
    this.reserved.add(n);
    return n;
  }

  releaseDpPort(n: number): void {
    this.reserved.delete(n);
  }

  private allocate(): number {
    for (let i = 0; i < MAX_KEY; i++) {
      const n = this.nextDpPort;
      this.nextDpPort = n >= MAX_KEY ? 1 : n + 1;
      if (!this.byDpPort.has(n) && !this.reserved.has(n)) return n;
    }
    throw new Error('no datapath port numbers left');
  }
}
