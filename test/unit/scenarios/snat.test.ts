// Scenario: dynamic SNAT of the tenant's VMs to 203.0.113.1 on the lab world; replies come back on
// either uplink of the ingress set and are translated back (DESIGN: NAT rules; Flow state; Store /nat).
import { IPPROTO_TCP, IPPROTO_UDP, formatIp } from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  LabScenario, NET_A_GW_MAC, PEER_A_MAC, PEER_B_MAC, TCP_SYN_ACK, UPLINK_A_MAC, UPLINK_B_MAC, VM2_MAC, decodeChecked, l4Frame,
  portsOf,
} from './scenario-harness.js';

/** Beyond both uplinks: reached through the provider's ECMP default route. */
const REMOTE = LAB.internetHost;

function lab(): LabScenario {
  return new LabScenario().seedNeighbours().seedVmMacs();
}

type Proto = typeof IPPROTO_UDP | typeof IPPROTO_TCP;
const out = (proto: Proto, sport: number, dport: number) =>
  l4Frame({ srcMac: VM2_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm2.ip, dst: REMOTE, proto, sport, dport });

/** The reply as the internet sends it to the SNAT address, entering on uplink-a or uplink-b. */
function back(uplink: 'a' | 'b', proto: Proto, natPort: number, sport: number): Uint8Array {
  const viaA = uplink === 'a';
  return l4Frame({
    srcMac: viaA ? PEER_A_MAC : PEER_B_MAC, dstMac: viaA ? UPLINK_A_MAC : UPLINK_B_MAC,
    src: REMOTE, dst: LAB.snatIp, proto, sport, dport: natPort, tcpFlags: TCP_SYN_ACK,
  });
}
const uplinkPort = (u: 'a' | 'b') => (u === 'a' ? LAB.uplinkA.port : LAB.uplinkB.port);

describe.each([
  ['UDP', IPPROTO_UDP as Proto, 40001, 53],
  ['TCP', IPPROTO_TCP as Proto, 40002, 443],
])('SNAT of vm2 -> %s %s', (_name, proto, sport, dport) => {
  it('leaves through an uplink with source 203.0.113.1 and a port from the allocator', () => {
    const s = lab();
    const d = s.send(out(proto, sport, dport), LAB.vm2.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(d.result?.expiry).toBe('stateful');
    expect(d.outputs).toHaveLength(1);
    const viaA = d.outputs[0].portId === LAB.uplinkA.port;
    expect(viaA || d.outputs[0].portId === LAB.uplinkB.port).toBe(true);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth).toMatchObject(viaA ? { src: UPLINK_A_MAC, dst: PEER_A_MAC } : { src: UPLINK_B_MAC, dst: PEER_B_MAC });
    expect(formatIp(f.ip4!.src)).toBe(LAB.snatIp);
    expect(formatIp(f.ip4!.dst)).toBe(REMOTE);
    expect(f.ip4!.ttl).toBe(62);
    const leased = s.snatPorts(LAB.tenant, LAB.snatIp);
    expect(leased).toHaveLength(1);
    expect(leased[0]).toBeGreaterThanOrEqual(1024);
    expect(leased[0]).toBeLessThanOrEqual(65535);
    expect(f.l4).toMatchObject({ kind: proto === IPPROTO_TCP ? 'tcp' : 'udp', srcPort: leased[0], dstPort: dport });
  });

  it.each(['a', 'b'] as const)('the reply entering on uplink-%s is translated back and delivered to vm2', (uplink) => {
    const s = lab();
    s.send(out(proto, sport, dport), LAB.vm2.port);
    const [natPort] = s.snatPorts(LAB.tenant, LAB.snatIp);
    const d = s.send(back(uplink, proto, natPort, dport), uplinkPort(uplink));
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(d.outputs)).toEqual([LAB.vm2.port]);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth).toMatchObject({ src: NET_A_GW_MAC, dst: VM2_MAC });
    expect(formatIp(f.ip4!.src)).toBe(REMOTE);
    expect(formatIp(f.ip4!.dst)).toBe(LAB.vm2.ip);
    expect(f.ip4!.ttl).toBe(62);
    expect(f.l4).toMatchObject({ srcPort: dport, dstPort: sport });
    // The reply's flow is installed too: the next reply takes the fast path.
    const again = s.send(back(uplink, proto, natPort, dport), uplinkPort(uplink));
    expect(again.path).toBe('hit');
    expect(portsOf(again.outputs)).toEqual([LAB.vm2.port]);
  });

  it('a packet to the SNAT address on another port is not delivered to vm2', () => {
    const s = lab();
    s.send(out(proto, sport, dport), LAB.vm2.port);
    const [natPort] = s.snatPorts(LAB.tenant, LAB.snatIp);
    const d = s.send(back('a', proto, natPort === 65535 ? 1024 : natPort + 1, dport), LAB.uplinkA.port);
    expect(portsOf(d.outputs)).not.toContain(LAB.vm2.port);
  });
});

describe('SNAT ports and state', () => {
  it('UDP and TCP connections of one VM get different ports; each later packet reuses its binding', () => {
    const s = lab();
    const u = s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    const t = s.send(out(IPPROTO_TCP, 40001, 53), LAB.vm2.port);
    const ports = s.snatPorts(LAB.tenant, LAB.snatIp);
    expect(ports).toHaveLength(2);
    expect(new Set(ports).size).toBe(2);
    expect(decodeChecked(u.outputs[0].frame).l4).toMatchObject({ srcPort: ports[0] });
    expect(decodeChecked(t.outputs[0].frame).l4).toMatchObject({ srcPort: ports[1] });
    // Simulated again (its flow gone), the connection keeps its port and leases no other.
    s.flows.invalidateTags(u.result!.tags);
    const again = s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    expect(again.path).toBe('simulated');
    expect(decodeChecked(again.outputs[0].frame).l4).toMatchObject({ srcPort: ports[0] });
    expect(s.snatPorts(LAB.tenant, LAB.snatIp)).toEqual(ports);
  });

  it('a stray packet to the SNAT port before the connection existed does not shadow its replies', () => {
    // Learn which port the connection will get, then replay the story with the stray packet first.
    const probe = lab();
    probe.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    const [natPort] = probe.snatPorts(LAB.tenant, LAB.snatIp);

    const s = lab();
    const stray = s.send(back('a', IPPROTO_UDP, natPort, 53), LAB.uplinkA.port);
    expect(portsOf(stray.outputs)).not.toContain(LAB.vm2.port);
    s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    expect(s.snatPorts(LAB.tenant, LAB.snatIp)).toEqual([natPort]);
    const d = s.send(back('a', IPPROTO_UDP, natPort, 53), LAB.uplinkA.port);
    expect(portsOf(d.outputs)).toEqual([LAB.vm2.port]);
  });
});

describe('SNAT ports exhausted', () => {
  // Two ports to give: the third connection finds none, and no lease could bring one (LocalTables owns them all).
  const narrow = (): LabScenario => new LabScenario({ snatPorts: { from: 5000, to: 5001 } }).seedNeighbours().seedVmMacs();

  it('a connection finding no port is dropped as an error with cause snatExhausted, not installed, nothing recorded', () => {
    const s = narrow();
    const opened = s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    expect(opened.result?.outcome).toEqual({ kind: 'forward' });
    const port = (decodeChecked(opened.outputs[0].frame).l4 as { srcPort: number }).srcPort;
    expect(s.send(out(IPPROTO_UDP, 40002, 53), LAB.vm2.port).result?.outcome).toEqual({ kind: 'forward' });
    expect(s.snatPorts(LAB.tenant, LAB.snatIp).sort()).toEqual([5000, 5001]);
    const third = s.send(out(IPPROTO_UDP, 40003, 53), LAB.vm2.port);
    expect(third.result?.outcome).toMatchObject({ kind: 'drop', error: true, cause: 'snatExhausted' });
    expect(third.result?.outcome.kind === 'drop' && third.result.outcome.reason).toMatch(/no SNAT port free/);
    expect(third.result?.installFlow).toBe(false);
    expect(third.result?.stateChanges.filter((c) => c.kind === 'nat' || c.kind === 'conntrack')).toEqual([]);
    expect(third.outputs).toEqual([]);
    // Simulated again on its next packet (no drop flow stands in its way), still dropped.
    expect(s.send(out(IPPROTO_UDP, 40003, 53), LAB.vm2.port).path).toBe('simulated');
    // The connections that have ports keep them and keep forwarding.
    const first = s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    expect(first.path).toBe('hit');
    expect(decodeChecked(first.outputs[0].frame).l4).toMatchObject({ srcPort: port });
  });

  it('once a binding expires and frees its port, the dropped connection gets it', () => {
    const s = narrow();
    s.send(out(IPPROTO_UDP, 40001, 53), LAB.vm2.port);
    s.now = 30_000;
    s.send(out(IPPROTO_UDP, 40002, 53), LAB.vm2.port);
    expect(s.send(out(IPPROTO_UDP, 40003, 53), LAB.vm2.port).result?.outcome).toMatchObject({ kind: 'drop', cause: 'snatExhausted' });
    // The first binding idles out (about a minute); the second was made later and lives on.
    s.now = 61_000;
    s.tables.expire(s.now);
    expect(s.snatPorts(LAB.tenant, LAB.snatIp)).toHaveLength(1);
    const third = s.send(out(IPPROTO_UDP, 40003, 53), LAB.vm2.port);
    expect(third.result?.outcome).toEqual({ kind: 'forward' });
    expect(s.snatPorts(LAB.tenant, LAB.snatIp)).toHaveLength(2);
  });
});
