// Scenario: what the lab's routers answer themselves: ping to a router port (RFC 792, RFC 4443) and
// ICMP time exceeded for a packet whose TTL runs out (RFC 1812 5.3.1), each walked back to the sender.
import {
  ICMP6_ECHO_REPLY, ICMP_ECHO_REPLY, ICMP_EXC_TTL, ICMP_TIME_EXCEEDED, IPPROTO_UDP, formatIp, parseIcmpErrorInner,
} from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { ping } from '../simulation/sim-test-kit.js';
import {
  LabScenario, NET_A_GW_MAC, PEER_A_MAC, PEER_B_MAC, UPLINK_A_MAC, UPLINK_B_MAC, VM1_MAC, VM2_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

const REMOTE = '100.64.7.7';

describe('ping to a router port', () => {
  it("vm1 pings the tenant router's net-a address and gets an echo reply", () => {
    const s = new LabScenario().seedNeighbours();
    const d = s.send(ping({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: '198.18.1.1', id: 0x1234, seq: 9 }), LAB.vm1.port);
    expect(d.result?.outcome.kind).toBe('consumed');
    expect(d.result?.installFlow).toBe(false);
    expect(d.flow).toBeUndefined();
    expect(d.outputs).toEqual([]);
    // The reply leaves the router by its net-a port and crosses the bridge to vm1.
    expect(portsOf(d.generated)).toEqual([LAB.vm1.port]);
    const r = decodeChecked(d.generated[0].frame);
    expect(r.eth).toMatchObject({ src: NET_A_GW_MAC, dst: VM1_MAC });
    expect(formatIp(r.ip4!.src)).toBe('198.18.1.1');
    expect(formatIp(r.ip4!.dst)).toBe(LAB.vm1.ip);
    expect(r.l4).toMatchObject({ kind: 'icmp4', type: ICMP_ECHO_REPLY, code: 0, rest: (0x1234 << 16) | 9 });
    expect([...(r.l4 as { data: Uint8Array }).data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // A second ping is answered again (nothing was installed to swallow it).
    expect(s.send(ping({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: '198.18.1.1', id: 0x1234, seq: 10 }), LAB.vm1.port).generated).toHaveLength(1);
  });

  it("the internet pings the provider's uplink-a address and the reply leaves by uplink-a", () => {
    const s = new LabScenario().seedNeighbours();
    const d = s.send(ping({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE, dst: '192.0.2.2', id: 77, seq: 1 }), LAB.uplinkA.port);
    expect(d.result?.outcome.kind).toBe('consumed');
    expect(portsOf(d.generated)).toEqual([LAB.uplinkA.port]);
    const r = decodeChecked(d.generated[0].frame);
    expect(r.eth).toMatchObject({ src: UPLINK_A_MAC, dst: PEER_A_MAC });
    expect(formatIp(r.ip4!.src)).toBe('192.0.2.2');
    expect(formatIp(r.ip4!.dst)).toBe(REMOTE);
    expect(r.l4).toMatchObject({ kind: 'icmp4', type: ICMP_ECHO_REPLY, rest: (77 << 16) | 1 });
  });

  it("the internet pings uplink-b's address through uplink-b, and the IPv6 uplink address over IPv6", () => {
    const s = new LabScenario().seedNeighbours();
    const b = s.send(ping({ srcMac: PEER_B_MAC, dstMac: UPLINK_B_MAC, src: REMOTE, dst: '198.51.100.2' }), LAB.uplinkB.port);
    expect(portsOf(b.generated)).toEqual([LAB.uplinkB.port]);
    expect(formatIp(decodeChecked(b.generated[0].frame).ip4!.src)).toBe('198.51.100.2');
    const v6 = s.send(ping({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '2001:db8:99::7', dst: '2001:db8:ff::2' }), LAB.uplinkA.port);
    expect(portsOf(v6.generated)).toEqual([LAB.uplinkA.port]);
    const r = decodeChecked(v6.generated[0].frame);
    expect(formatIp(r.ip6!.src)).toBe('2001:db8:ff::2');
    expect(formatIp(r.ip6!.dst)).toBe('2001:db8:99::7');
    expect(r.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_ECHO_REPLY });
  });
});

describe('TTL expiry', () => {
  const expiring = (ttl: number) =>
    l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE, dst: LAB.floatingIp, sport: 33434, dport: 33435, ttl });

  it('a packet arriving on uplink-a with TTL 1 gets time exceeded back out of uplink-a, quoting its header', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    const sent = expiring(1);
    const d = s.send(sent, LAB.uplinkA.port);
    expect(d.result?.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(d.outputs).toEqual([]);
    expect(d.result?.installFlow).toBe(false);
    expect(portsOf(d.generated)).toEqual([LAB.uplinkA.port]);
    const e = decodeChecked(d.generated[0].frame);
    expect(e.eth).toMatchObject({ src: UPLINK_A_MAC, dst: PEER_A_MAC });
    expect(formatIp(e.ip4!.src)).toBe('192.0.2.2');
    expect(formatIp(e.ip4!.dst)).toBe(REMOTE);
    expect(e.l4).toMatchObject({ kind: 'icmp4', type: ICMP_TIME_EXCEEDED, code: ICMP_EXC_TTL });
    // The original IP header (bytes 14..34 of the frame) and the start of its payload, verbatim.
    const data = (e.l4 as { data: Uint8Array }).data;
    expect([...data.subarray(0, 28)]).toEqual([...sent.subarray(14, 42)]);
    expect(parseIcmpErrorInner(d.generated[0].frame)).toEqual({
      ipSrc: decodeChecked(sent).ip4!.src, ipDst: decodeChecked(sent).ip4!.dst, proto: IPPROTO_UDP, l4Src: 33434, l4Dst: 33435, icmpId: 0,
    });
    // Each such packet is answered: the next one is simulated again.
    expect(s.send(expiring(1), LAB.uplinkA.port).generated).toHaveLength(1);
  });

  it('with TTL 2 the tenant router answers, quoting the destination the sender used (the floating IP)', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    const d = s.send(expiring(2), LAB.uplinkA.port);
    expect(d.result?.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(d.generated).toHaveLength(1);
    const out = d.generated[0];
    expect([LAB.uplinkA.port, LAB.uplinkB.port]).toContain(out.portId);
    const e = decodeChecked(out.frame);
    expect(formatIp(e.ip4!.src)).toBe('198.18.0.2');
    expect(formatIp(e.ip4!.dst)).toBe(REMOTE);
    expect(e.l4).toMatchObject({ kind: 'icmp4', type: ICMP_TIME_EXCEEDED, code: ICMP_EXC_TTL });
    const inner = parseIcmpErrorInner(out.frame);
    expect(inner).toMatchObject({ l4Src: 33434, l4Dst: 33435 });
    expect(formatIp((inner as { ipDst: number }).ipDst)).toBe(LAB.floatingIp);
  });

  it("a SNAT reply expiring at the tenant router is quoted as sent (to the SNAT address), not with vm2's", () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    s.send(l4Frame({ srcMac: VM2_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm2.ip, dst: LAB.internetHost, sport: 40001, dport: 53 }), LAB.vm2.port);
    const [natPort] = s.snatPorts(LAB.tenant, LAB.snatIp);
    const late = l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: LAB.internetHost, dst: LAB.snatIp, sport: 53, dport: natPort, ttl: 2 });
    const d = s.send(late, LAB.uplinkA.port);
    expect(d.outputs).toEqual([]);
    expect(d.generated).toHaveLength(1);
    const e = decodeChecked(d.generated[0].frame);
    expect(formatIp(e.ip4!.dst)).toBe(LAB.internetHost);
    expect(e.l4).toMatchObject({ kind: 'icmp4', type: ICMP_TIME_EXCEEDED });
    const inner = parseIcmpErrorInner(d.generated[0].frame) as { ipSrc: number; ipDst: number; l4Src: number; l4Dst: number };
    expect([formatIp(inner.ipSrc), inner.l4Src, formatIp(inner.ipDst), inner.l4Dst]).toEqual([LAB.internetHost, 53, LAB.snatIp, natPort]);
  });
});
