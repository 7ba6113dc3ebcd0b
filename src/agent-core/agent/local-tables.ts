// This host's in-memory state tables: learned MACs, ARP/ND entries, conntrack keys, NAT bindings and
// SNAT ports in use. They back the simulator's table views (simulation/types.ts) and take the
// state changes of each simulation. Shared copies live in ZooKeeper (store/) and in peers (flow-state
// push); this is the local front the simulation reads synchronously.
import { formatIp, parseIp, type IpAddr, type Mac } from '../packet/index.js';
import type { Id } from '../topology/index.js';
import type {
  ArpTableView, ConntrackView, MacTableView, NatBinding, NatPortAllocator, NatTableView, StateChange,
} from '../simulation/index.js';
import { arpTag, macTag } from '../simulation/index.js';

/** Idle lifetime of conntrack and NAT keys (DESIGN: Flow state, "about a minute"). */
export const STATE_IDLE_MS = 60_000;
/** An entry may be this much out of expiry order and still count as in order (it expires that much late at most). */
const ORDER_SLACK_MS = 10;

interface Expiring<T> {
  value: T;
  expiresAt: number;
  /** For a forward SNAT binding: the "<device>|<ip>" whose port it holds, freed on expiry. */
  portOf?: string;
}

export interface LocalTablesSnapshot {
  readonly conntrack: readonly (readonly [string, number])[];
  readonly nat: readonly { readonly key: string; readonly ip: string; readonly port: number; readonly remainingMs: number; readonly portOf?: string }[];
}

export class LocalTables implements MacTableView, ArpTableView, ConntrackView, NatTableView, NatPortAllocator {
  private readonly macs = new Map<string, Id>();
  private readonly arp = new Map<string, Mac>();
  /**
   * Conntrack keys and NAT bindings in expiry order (a refresh moves the key to the end), so that
   * expire() reads only what is due; `ordered` is false after an entry went in out of order.
   */
  private readonly conntrackKeys = new Map<string, Expiring<true>>();
  private readonly natBindings = new Map<string, Expiring<NatBinding>>();
  private readonly order = { conntrack: { last: -Infinity, ordered: true }, nat: { last: -Infinity, ordered: true } };
  /** SNAT ports in use per "<device>|<ip>". */
  private readonly natPortsUsed = new Map<string, Set<number>>();

  /** Called when an expired forward SNAT binding frees its port (the shell gives it back to its lease). */
  onNatPortFreed: ((deviceId: Id, ip: IpAddr, port: number) => void) | undefined;

  constructor(private readonly stateIdleMs = STATE_IDLE_MS) {}

  /** The SNAT ports bindings hold, per device and leased IP (for re-leasing their blocks after a restart). */
  snatPortsHeld(): { deviceId: Id; ip: IpAddr; port: number }[] {
    const out: { deviceId: Id; ip: IpAddr; port: number }[] = [];
    for (const [where, ports] of this.natPortsUsed) {
      const [deviceId, ip] = splitPortOf(where);
      if (ip === undefined) continue;
      for (const port of ports) out.push({ deviceId, ip, port });
    }
    return out;
  }

  lookup(bridgeId: Id, vlanId: number, mac: Mac): Id | null;
  lookup(routerId: Id, ip: IpAddr): Mac | undefined;
  lookup(deviceId: Id, a: number | IpAddr, b?: Mac): Id | Mac | null | undefined {
    if (b !== undefined) return this.macs.get(`${deviceId}|${a}|${b}`) ?? null;
    return this.arp.get(`${deviceId}|${a}`);
  }

  has(key: string): boolean {
    return this.conntrackKeys.has(key);
  }

  get(key: string): NatBinding | undefined {
    return this.natBindings.get(key)?.value;
  }

  pickPort(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number, flowHash: number): number | undefined {
    const used = this.natPortsUsed.get(portOfKey(deviceId, ip));
    const span = portTo - portFrom + 1;
    if (span <= 0) return undefined;
    // Start where the connection hash points and walk to the first free port (bounded by the span).
    const start = (flowHash >>> 0) % span;
    for (let i = 0; i < span; i++) {
      const port = portFrom + ((start + i) % span);
      if (used === undefined || !used.has(port)) return port;
    }
    return undefined;
  }

  /** Every port of the range is this host's to give (no leases here): none free means none to wait for. */
  exhausted(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number): boolean {
    return this.pickPort(deviceId, ip, portFrom, portTo, 0) === undefined;
  }

  learnMac(bridgeId: Id, vlanId: number, mac: Mac, portId: Id): void {
    this.macs.set(`${bridgeId}|${vlanId}|${mac}`, portId);
  }

  learnArp(routerId: Id, ip: IpAddr, mac: Mac): void {
    this.arp.set(`${routerId}|${ip}`, mac);
  }

  /** Forgets an ARP/ND entry (a neighbour that stopped answering); true if there was one. */
  forgetArp(routerId: Id, ip: IpAddr): boolean {
    return this.arp.delete(`${routerId}|${ip}`);
  }

  /** The SNAT ports of `ip` on `deviceId` that bindings hold now, in the order they were taken. */
  snatPortsInUse(deviceId: Id, ip: IpAddr): number[] {
    return [...(this.natPortsUsed.get(portOfKey(deviceId, ip)) ?? [])];
  }

  /**
   * Applies a simulation's state changes (before its flow is installed) and returns the tags of
   * flows made stale: those that flooded for, or forwarded to, a MAC that moved, and those that
   * depend on an ARP entry that changed, and those that were decided without a conntrack key or
   * NAT binding that now exists (a drop flow installed for a probe before the connection opened,
   * a reverse NAT that found nothing). Known keys only refresh their lifetime.
   */
  apply(changes: readonly StateChange[], now: number): string[] {
    const stale: string[] = [];
    const expiresAt = now + this.stateIdleMs;
    for (const c of changes) {
      switch (c.kind) {
        case 'macLearned':
          if (this.lookup(c.bridgeId, c.vlanId, c.mac) !== c.portId) stale.push(macTag(c.bridgeId, c.vlanId, c.mac));
          this.learnMac(c.bridgeId, c.vlanId, c.mac, c.portId);
          break;
        case 'arpLearned':
          if (this.lookup(c.routerId, c.ip) !== c.mac) stale.push(arpTag(c.routerId, c.ip));
          this.learnArp(c.routerId, c.ip, c.mac);
          break;
        case 'conntrack':
          if (!this.conntrackKeys.delete(c.key)) stale.push(`ct:${c.key}`);
          this.conntrackKeys.set(c.key, { value: true, expiresAt });
          this.noteExpiry(this.order.conntrack, expiresAt);
          break;
        case 'nat': {
          const old = this.natBindings.get(c.key)?.value;
          if (old === undefined || old.ip !== c.binding.ip || old.port !== c.binding.port) stale.push(`nat:${c.key}`);
          const entry: Expiring<NatBinding> = { value: c.binding, expiresAt };
          if (c.leasedIp !== undefined) {
            entry.portOf = portOfKey(c.deviceId, c.leasedIp);
            let used = this.natPortsUsed.get(entry.portOf);
            if (used === undefined) this.natPortsUsed.set(entry.portOf, (used = new Set()));
            used.add(c.binding.port);
          }
          this.natBindings.delete(c.key);
          this.natBindings.set(c.key, entry);
          this.noteExpiry(this.order.nat, expiresAt);
          break;
        }
      }
    }
    return stale;
  }

  /** Drops conntrack keys and NAT bindings idle past their lifetime; returns their flow tags. */
  expire(now: number): string[] {
    const tags: string[] = [];
    this.reorder(this.conntrackKeys, this.order.conntrack);
    this.reorder(this.natBindings, this.order.nat);
    for (const [k, e] of this.conntrackKeys) {
      if (e.expiresAt > now + ORDER_SLACK_MS) break;
      if (e.expiresAt <= now) {
        this.conntrackKeys.delete(k);
        tags.push(`ct:${k}`);
      }
    }
    for (const [k, e] of this.natBindings) {
      if (e.expiresAt > now + ORDER_SLACK_MS) break;
      if (e.expiresAt <= now) {
        this.natBindings.delete(k);
        if (e.portOf !== undefined && this.natPortsUsed.get(e.portOf)?.delete(e.value.port) === true) {
          const [deviceId, ip] = splitPortOf(e.portOf);
          if (ip !== undefined) this.onNatPortFreed?.(deviceId, ip, e.value.port);
        }
        tags.push(`nat:${k}`);
      }
    }
    return tags;
  }

  private noteExpiry(o: { last: number; ordered: boolean }, expiresAt: number): void {
    if (expiresAt < o.last - ORDER_SLACK_MS) o.ordered = false;
    else if (expiresAt > o.last) o.last = expiresAt;
  }

  /** Puts a table back in expiry order after entries went in out of it (a restore, a clock from a test). */
  private reorder<T>(m: Map<string, Expiring<T>>, o: { last: number; ordered: boolean }): void {
    if (o.ordered) return;
    const sorted = [...m].sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    m.clear();
    for (const [k, e] of sorted) m.set(k, e);
    o.ordered = true;
  }

  /** Conntrack keys and NAT bindings with their remaining lifetime, for keeping them across a restart. */
  snapshot(now: number): LocalTablesSnapshot {
    const conntrack: [string, number][] = [];
    for (const [k, e] of this.conntrackKeys) if (e.expiresAt > now) conntrack.push([k, e.expiresAt - now]);
    const nat: LocalTablesSnapshot['nat'][number][] = [];
    for (const [k, e] of this.natBindings) {
      if (e.expiresAt > now) nat.push({ key: k, ip: formatIp(e.value.ip), port: e.value.port, remainingMs: e.expiresAt - now, portOf: e.portOf });
    }
    return { conntrack, nat };
  }

  /** Takes back a snapshot's entries (keeping newer ones already here); returns how many were taken. */
  restore(s: LocalTablesSnapshot, now: number): number {
    let n = 0;
    for (const [k, remaining] of s.conntrack) {
      if (remaining <= 0 || this.conntrackKeys.has(k)) continue;
      this.conntrackKeys.set(k, { value: true, expiresAt: now + remaining });
      this.noteExpiry(this.order.conntrack, now + remaining);
      n++;
    }
    for (const e of s.nat) {
      const ip = parseIp(e.ip);
      if (ip === undefined || e.remainingMs <= 0 || this.natBindings.has(e.key)) continue;
      const entry: Expiring<NatBinding> = { value: { ip, port: e.port }, expiresAt: now + e.remainingMs };
      if (e.portOf !== undefined) {
        entry.portOf = e.portOf;
        let used = this.natPortsUsed.get(e.portOf);
        if (used === undefined) this.natPortsUsed.set(e.portOf, (used = new Set()));
        used.add(e.port);
      }
      this.natBindings.set(e.key, entry);
      this.noteExpiry(this.order.nat, entry.expiresAt);
      n++;
    }
    return n;
  }

  counts(): { macs: number; arp: number; conntrack: number; nat: number } {
    return { macs: this.macs.size, arp: this.arp.size, conntrack: this.conntrackKeys.size, nat: this.natBindings.size };
  }
}

function portOfKey(deviceId: Id, ip: IpAddr): string {
  return `${deviceId}|${formatIp(ip)}`;
}

/** "<device>|<ip>" back into its parts. */
function splitPortOf(where: string): [Id, IpAddr | undefined] {
  const i = where.lastIndexOf('|');
  return [where.slice(0, i), parseIp(where.slice(i + 1))];
}
