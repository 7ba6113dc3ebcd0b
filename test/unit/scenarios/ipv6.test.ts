// Scenario: IPv6 routing on the lab world, from the internet on uplink-a to vm3 (2001:db8:2::13)
// and back, through both routers with the hop limit decremented at each (RFC 8200 3; DESIGN: Router).
import { ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT, formatIp } from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  LabScenario, NET_B_GW_MAC, PEER_A_MAC, UPLINK_A_MAC, VM3_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

const REMOTE6 = '2001:db8:99::7';

const inbound = (hopLimit = 64) =>
  l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE6, dst: LAB.vm3.ip6, sport: 5353, dport: 8080, ttl: hopLimit });
const reply = () => l4Frame({ srcMac: VM3_MAC, dstMac: NET_B_GW_MAC, src: LAB.vm3.ip6, dst: REMOTE6, sport: 8080, dport: 5353, ttl: 64 });

describe('IPv6 internet <-> vm3', () => {
  it('a packet from the internet reaches vm3 with the hop limit decremented twice', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    const d = s.send(inbound(), LAB.uplinkA.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(d.outputs)).toEqual([LAB.vm3.port]);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth).toMatchObject({ src: NET_B_GW_MAC, dst: VM3_MAC });
    expect(formatIp(f.ip6!.src)).toBe(REMOTE6);
    expect(formatIp(f.ip6!.dst)).toBe(LAB.vm3.ip6);
    expect(f.ip6!.hopLimit).toBe(62);
    expect(f.l4).toMatchObject({ kind: 'udp', srcPort: 5353, dstPort: 8080 });
    expect(s.send(inbound(), LAB.uplinkA.port).path).toBe('hit');
  });

  it("vm3's reply leaves by uplink-a (the IPv6 default route) to the upstream peer", () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    const d = s.send(reply(), LAB.vm3.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(d.outputs)).toEqual([LAB.uplinkA.port]);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth).toMatchObject({ src: UPLINK_A_MAC, dst: PEER_A_MAC });
    expect(formatIp(f.ip6!.src)).toBe(LAB.vm3.ip6);
    expect(formatIp(f.ip6!.dst)).toBe(REMOTE6);
    expect(f.ip6!.hopLimit).toBe(62);
  });

  it('hop limit 2 expires at the tenant router: time exceeded goes back out of uplink-a', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    const d = s.send(inbound(2), LAB.uplinkA.port);
    expect(d.outputs).toEqual([]);
    expect(portsOf(d.generated)).toEqual([LAB.uplinkA.port]);
    const e = decodeChecked(d.generated[0].frame);
    expect(formatIp(e.ip6!.src)).toBe('2001:db8:fe::2');
    expect(formatIp(e.ip6!.dst)).toBe(REMOTE6);
    expect(e.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_TIME_EXCEEDED, code: ICMP6_TIME_EXCEED_TRANSIT });
  });
});
