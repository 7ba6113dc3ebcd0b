// `tollgate lab --simulated`: the lab's world driven through one agent's packet workflow in this
// process, with the hosts around it (VMs, upstream routers, the internet) answering ARP and ping
// as real ones would. No namespaces or tunnels yet: the real-packet lab arrives with the datapath.
import { LocalTables, PacketWorkflow, type PortOutput } from '../../agent-core/agent/index.js';
import {
  ARP_OP_REQUEST, ETHERTYPE_IPV4, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED, IPPROTO_ICMP, IPPROTO_UDP,
  buildArpReply, buildIcmp4EchoReply, decodeFrame, encodeFrame, formatIp4, isDecodeError, parseIp4, parseMac,
  type Ip4, type Mac,
} from '../../agent-core/packet/index.js';
import { InMemoryTopology, type Id } from '../../agent-core/topology/index.js';
import { buildLabTopology, LAB } from './lab-topology.js';

interface LabHost {
  readonly name: string;
  readonly portId: Id;
  readonly mac: Mac;
  readonly ip: Ip4;
  /** Upstream routers stand for the whole internet: they answer pings to any address they route. */
  readonly internet: boolean;
  readonly received: Received[];
}

interface Received {
  readonly kind: 'echoRequest' | 'echoReply' | 'udp' | 'timeExceeded' | 'other';
  readonly src: Ip4;
  readonly dst: Ip4;
  readonly srcPort?: number;
}

export interface LabCase {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface SimLabReport {
  readonly cases: readonly LabCase[];
  readonly counters: PacketWorkflow['counters'];
  readonly flows: number;
}

const ip4 = (t: string): Ip4 => parseIp4(t)!;
const mac = (t: string): Mac => parseMac(t)!;
const INTERNET_HOST = ip4(LAB.internetHost);
const MAX_STEPS = 10_000;

class SimulatedLab {
  readonly topology = new InMemoryTopology(buildLabTopology());
  readonly tables = new LocalTables();
  readonly workflow: PacketWorkflow;
  readonly hosts = new Map<Id, LabHost>();
  private now = 0;

  constructor(private readonly trace?: (line: string) => void) {
    this.workflow = new PacketWorkflow(
      { topology: this.topology, macs: this.tables, arp: this.tables, conntrack: this.tables, nat: this.tables, natPorts: this.tables },
      this.tables,
    );
    this.workflow.trace = trace !== undefined;
    this.topology.onChange((e) => this.workflow.invalidate(e.tags));
    const host = (name: string, portId: Id, m: string, a: string, internet = false): void => {
      this.hosts.set(portId, { name, portId, mac: mac(m), ip: ip4(a), internet, received: [] });
    };
    host('upstream-a', LAB.uplinkA.port, LAB.uplinkA.peerMac, LAB.uplinkA.peer, true);
    host('upstream-b', LAB.uplinkB.port, LAB.uplinkB.peerMac, LAB.uplinkB.peer, true);
    for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) host(vm.port, vm.port, vm.mac, vm.ip);
  }

  /** Injects a frame on a port and runs the world until it is quiet (bounded). */
  send(portId: Id, frame: Uint8Array): void {
    const queue: { portId: Id; frame: Uint8Array }[] = [{ portId, frame }];
    const parked: { portId: Id; frame: Uint8Array; tries: number }[] = [];
    for (let step = 0; step < MAX_STEPS && (queue.length > 0 || parked.length > 0); step++) {
      const next = queue.shift() ?? parked.shift()!;
      this.now += 1;
      const d = this.workflow.handle(next.frame, next.portId, this.now);
      if (this.trace !== undefined && d.kind !== 'malformed' && d.kind !== 'fastPath') {
        this.trace(`${next.portId}: ${d.kind}: ${d.result.trace.join(' / ')}`);
      }
      if (d.kind === 'malformed') continue;
      for (const out of d.outputs) queue.push(...this.deliver(out));
      if (d.kind === 'parked') {
        const tries = 'tries' in next ? (next.tries as number) + 1 : 1;
        if (tries <= 3) parked.push({ portId: next.portId, frame: next.frame, tries });
      }
    }
  }

  /** A host on an exterior port receives a frame; returns what it sends back. */
  private deliver(out: PortOutput): { portId: Id; frame: Uint8Array }[] {
    const h = this.hosts.get(out.portId);
    if (h === undefined) return [];
    const f = decodeFrame(out.frame);
    if (isDecodeError(f)) return [];
    if (f.arp !== undefined) {
      if (f.arp.op === ARP_OP_REQUEST && f.arp.tpa === h.ip) {
        return [{ portId: h.portId, frame: buildArpReply(h.mac, h.ip, f.arp.sha, f.arp.spa) }];
      }
      return [];
    }
    const ip = f.ip4;
    if (ip === undefined || f.eth.etherType !== ETHERTYPE_IPV4) return [];
    const l4 = f.l4;
    const mine = ip.dst === h.ip || h.internet;
    if (l4?.kind === 'icmp4' && l4.type === ICMP_ECHO_REQUEST && mine) {
      h.received.push({ kind: 'echoRequest', src: ip.src, dst: ip.dst });
      const reply = buildIcmp4EchoReply(out.frame, h.mac, f.eth.src);
      return isDecodeError(reply) ? [] : [{ portId: h.portId, frame: reply }];
    }
    const kind = l4?.kind === 'icmp4' && l4.type === ICMP_ECHO_REPLY ? 'echoReply'
      : l4?.kind === 'icmp4' && l4.type === ICMP_TIME_EXCEEDED ? 'timeExceeded'
      : l4?.kind === 'udp' ? 'udp' : 'other';
    h.received.push({ kind, src: ip.src, dst: ip.dst, ...(l4?.kind === 'udp' && { srcPort: l4.srcPort }) });
    return [];
  }

  host(portId: Id): LabHost {
    return this.hosts.get(portId)!;
  }

  /** The MAC a host sends to for off-link traffic: its gateway's port MAC. */
  gatewayMacFor(portId: Id): Mac {
    if (portId === LAB.uplinkA.port) return mac(LAB.uplinkA.mac);
    if (portId === LAB.uplinkB.port) return mac(LAB.uplinkB.mac);
    return mac(this.host(portId).ip >>> 8 === ip4(LAB.vm3.ip) >>> 8 ? LAB.netB.mac : LAB.netA.mac);
  }

  ipFrame(from: Id, dst: Ip4, l4: 'ping' | 'udp', opts: { src?: Ip4; ttl?: number; id?: number; sport?: number; dport?: number } = {}): Uint8Array {
    const h = this.host(from);
    return encodeFrame({
      eth: { dst: this.gatewayMacFor(from), src: h.mac, etherType: ETHERTYPE_IPV4 },
      ip4: {
        tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: opts.ttl ?? 64,
        proto: l4 === 'ping' ? IPPROTO_ICMP : IPPROTO_UDP, src: opts.src ?? h.ip, dst, options: new Uint8Array(0),
      },
      l4: l4 === 'ping'
        ? { kind: 'icmp4', type: ICMP_ECHO_REQUEST, code: 0, rest: ((opts.id ?? 1) << 16) | 1, data: new Uint8Array(32) }
        : { kind: 'udp', srcPort: opts.sport ?? 40000 + (opts.id ?? 0), dstPort: opts.dport ?? 5201, payload: new Uint8Array(32) },
    });
  }
}

function received(h: LabHost, kind: Received['kind'], src?: Ip4, dst?: Ip4): boolean {
  return h.received.some((r) => r.kind === kind && (src === undefined || r.src === src) && (dst === undefined || r.dst === dst));
}

export function runSimulatedLab(trace?: (line: string) => void): SimLabReport {
  const lab = new SimulatedLab(trace);
  const cases: LabCase[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    cases.push({ name, ok, detail });
  };
  const up = lab.host(LAB.uplinkA.port);
  const upB = lab.host(LAB.uplinkB.port);
  const vm1 = lab.host(LAB.vm1.port);
  const vm2 = lab.host(LAB.vm2.port);
  const vm3 = lab.host(LAB.vm3.port);
  const floating = ip4(LAB.floatingIp);
  const snat = ip4(LAB.snatIp);

  lab.send(up.portId, lab.ipFrame(up.portId, floating, 'ping', { src: INTERNET_HOST, id: 1 }));
  check('internet -> floating IP (ping)', received(vm1, 'echoRequest', INTERNET_HOST, vm1.ip) && (received(up, 'echoReply', floating, INTERNET_HOST) || received(upB, 'echoReply', floating, INTERNET_HOST)),
    `vm1 sees ${formatIp4(INTERNET_HOST)} -> ${formatIp4(vm1.ip)}; the reply leaves from ${LAB.floatingIp}`);

  lab.send(vm2.portId, lab.ipFrame(vm2.portId, INTERNET_HOST, 'ping', { id: 2 }));
  const outA = received(up, 'echoRequest', snat, INTERNET_HOST) || received(upB, 'echoRequest', snat, INTERNET_HOST);
  check('vm2 -> internet through SNAT (ping)', outA && received(vm2, 'echoReply', INTERNET_HOST, vm2.ip),
    `leaves as ${LAB.snatIp}, the reply reaches ${LAB.vm2.ip}`);

  lab.send(vm3.portId, lab.ipFrame(vm3.portId, INTERNET_HOST, 'udp', { id: 3 }));
  const udpOut = [...up.received, ...upB.received].find((r) => r.kind === 'udp' && r.src === snat);
  check('vm3 -> internet UDP through SNAT', udpOut !== undefined, `a datagram from ${LAB.snatIp} reached the upstream`);
  if (udpOut?.srcPort !== undefined) {
    // The reply enters through the other member of the ingress set: its state must be there too.
    lab.send(upB.portId, lab.ipFrame(upB.portId, snat, 'udp', { src: INTERNET_HOST, sport: 5201, dport: udpOut.srcPort }));
  }
  check('the reply through the other uplink reaches vm3', received(vm3, 'udp', INTERNET_HOST, vm3.ip),
    `${LAB.internetHost} -> ${LAB.snatIp}:${udpOut?.srcPort ?? '?'} entering on ${LAB.uplinkB.port} is translated back to ${LAB.vm3.ip}`);

  const gatewayA = LAB.netA.address.split('/')[0];
  lab.send(vm1.portId, lab.ipFrame(vm1.portId, ip4(gatewayA), 'ping', { id: 4 }));
  check('vm1 pings its gateway (tenant router port)', received(vm1, 'echoReply', ip4(gatewayA), vm1.ip), `echo reply from ${gatewayA}`);

  lab.send(up.portId, lab.ipFrame(up.portId, floating, 'ping', { src: INTERNET_HOST, ttl: 1, id: 5 }));
  check('TTL 1 from the internet -> ICMP time exceeded', received(up, 'timeExceeded', undefined, INTERNET_HOST), 'the provider router answers out of uplink-a');

  const before = lab.workflow.counters.fastPath;
  for (let i = 0; i < 5; i++) lab.send(vm2.portId, lab.ipFrame(vm2.portId, INTERNET_HOST, 'ping', { id: 2 }));
  check('the same connection again takes the fast path', lab.workflow.counters.fastPath - before >= 5, `${lab.workflow.counters.fastPath - before} fast-path hits for 10 packets`);

  return { cases, counters: { ...lab.workflow.counters }, flows: lab.workflow.flows.size };
}

export function formatSimLabReport(r: SimLabReport): string {
  const lines = ['Tollgate lab (simulated: one agent\'s packet workflow in this process, hosts answering around it)', ''];
  for (const c of r.cases) lines.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(48)} ${c.detail}`);
  const k = r.counters;
  lines.push('', `  packets ${k.packets}, simulations ${k.simulations}, fast-path hits ${k.fastPath}, flows installed ${k.installs} (${r.flows} live), parked ${k.parked}, generated ${k.generated}`);
  const failed = r.cases.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${r.cases.length} cases passed` : `${failed} of ${r.cases.length} cases FAILED`);
  return lines.join('\n');
}
