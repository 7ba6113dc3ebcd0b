// What a parked packet waits for, and the loads that bring it (DESIGN: The packet's way, step 5):
// a NotYet's device, MAC table, ARP entry or NAT block, and the bindings and hosts egress needs.
// Each thing gets one wait key; one load runs per key at a time; when it settles, the packets
// waiting under that key are released to run again.
import type { Logger } from 'pino';
import { formatIp } from '../packet/index.js';
import type { Missing } from '../simulation/index.js';
import { NatBlocksExhaustedError, type ArpTable, type HostStateView, type MacTable, type NatLeases, type ZkTopologyCache } from '../store/index.js';
import type { Id } from '../topology/index.js';

export interface MissingSources {
  readonly topology: ZkTopologyCache;
  readonly macs: MacTable;
  readonly arp: ArpTable;
  readonly hosts: HostStateView;
  readonly natLeases: NatLeases;
  readonly log: Logger;
  /** Runs the packets waiting under the key again. */
  readonly release: (key: string) => void;
}

export function deviceWaitKey(objectType: string, id: Id): string {
  return `device:${objectType}:${id}`;
}

export function arpWaitKey(routerId: Id, ip: Parameters<typeof formatIp>[0]): string {
  return `arp:${routerId}:${formatIp(ip)}`;
}

export class MissingLoader {
  private readonly loading = new Set<string>();

  constructor(private readonly s: MissingSources) {}

  /** Starts loading what a NotYet names; returns the key its packets wait under. */
  load(m: Missing): string {
    const s = this.s;
    switch (m.kind) {
      case 'device': {
        const key = deviceWaitKey(m.objectType === 'routes' ? 'router' : m.objectType, m.id);
        this.once(key, () => (m.objectType === 'routes' ? s.topology.ensureRoutes(m.id) : s.topology.ensure(m.objectType, m.id)));
        return key;
      }
      case 'macTable': {
        const key = `macTable:${m.bridgeId}:${m.vlanId}`;
        this.once(key, () => s.macs.ensure(m.bridgeId, m.vlanId));
        return key;
      }
      case 'arp': {
        const key = arpWaitKey(m.routerId, m.ip);
        // The router sent an ARP request (in the generated packets); its reply is learned by a
        // simulation and releases the key; the table load covers entries other hosts learned.
        if (!s.arp.isLoaded(m.routerId)) this.once(`arpTable:${m.routerId}`, () => s.arp.ensure(m.routerId), key);
        return key;
      }
      case 'natBlock': {
        const key = `natBlock:${m.deviceId}:${formatIp(m.ip)}`;
        this.once(key, () => s.natLeases.leaseNatBlock(m.deviceId, m.ip, m.portFrom, m.portTo));
        return key;
      }
    }
  }

  /** Loads a "binding:<port>" or "host:<host>" record of the store. */
  loadBinding(key: string): void {
    const i = key.indexOf(':');
    const [kind, id] = [key.slice(0, i), key.slice(i + 1)];
    this.once(key, () => (kind === 'host' ? this.s.hosts.ensureHost(id) : this.s.hosts.ensurePortActive(id)));
  }

  private once(key: string, start: () => Promise<unknown>, releaseKey = key): void {
    if (this.loading.has(key)) return;
    this.loading.add(key);
    start()
      .catch((err: unknown) => {
        // An exhausted SNAT address is logged by the leases, once a minute; its packets are dropped when re-simulated.
        if (!(err instanceof NatBlocksExhaustedError)) this.s.log.warn({ err, key }, 'loading what a packet waits for failed');
      })
      .finally(() => {
        this.loading.delete(key);
        this.s.release(releaseKey);
      });
  }
}
