// Scenario: next hops the routers do not know yet. The first packet is NotYet with an ARP request
// (RFC 826) or neighbour solicitation (RFC 4861) out of the egress port; once the answer has been
// simulated and its arpLearned applied, the parked packet goes through (DESIGN: The packet's way, 5).
import {
  ARP_OP_REQUEST, ETHERTYPE_ARP, MAC_BROADCAST, ND_NEIGHBOR_SOLICIT, buildArpReply, buildNdAdvert, formatIp,
} from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { ip, ip4, ip6 } from '../simulation/sim-test-kit.js';
import {
  LabScenario, NET_A_GW_MAC, PEER_A_MAC, PEER_B_MAC, PROVIDER_TRANSIT_MAC, TENANT_TRANSIT_MAC, UPLINK_A_MAC, UPLINK_B_MAC,
  VM1_MAC, VM2_MAC, VM3_MAC, NET_B_GW_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

describe('ARP: the uplink peer is not known yet', () => {
  const out = () => l4Frame({ srcMac: VM2_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm2.ip, dst: LAB.internetHost, sport: 40001, dport: 53 });

  it('the first packet is NotYet with an ARP request out of the uplink; after the reply it goes through', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    s.forgetArp(LAB.provider, LAB.uplinkA.peer);
    s.forgetArp(LAB.provider, LAB.uplinkB.peer);

    const first = s.send(out(), LAB.vm2.port);
    expect(first.result?.outcome.kind).toBe('notYet');
    expect(first.flow).toBeUndefined();
    expect(first.outputs).toEqual([]);
    // ECMP picked an uplink; the request asks for that uplink's peer.
    expect(first.generated).toHaveLength(1);
    const uplink = first.generated[0].portId;
    const viaA = uplink === LAB.uplinkA.port;
    expect(viaA || uplink === LAB.uplinkB.port).toBe(true);
    const peer = viaA ? LAB.uplinkA.peer : LAB.uplinkB.peer;
    const peerMac = viaA ? PEER_A_MAC : PEER_B_MAC;
    const uplinkMac = viaA ? UPLINK_A_MAC : UPLINK_B_MAC;
    const uplinkIp = viaA ? '192.0.2.2' : '198.51.100.2';
    expect(first.result?.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: LAB.provider, ip: ip(peer) }] });
    const req = decodeChecked(first.generated[0].frame);
    expect(req.eth).toMatchObject({ dst: MAC_BROADCAST, src: uplinkMac, etherType: ETHERTYPE_ARP });
    expect(req.arp).toMatchObject({ op: ARP_OP_REQUEST, sha: uplinkMac, spa: ip4(uplinkIp), tpa: ip4(peer) });
    // No SNAT port was taken for a packet that did not go out.
    expect(s.snatPorts(LAB.tenant, LAB.snatIp)).toEqual([]);

    const answer = s.send(buildArpReply(peerMac, ip4(peer), uplinkMac, ip4(uplinkIp)), uplink);
    expect(answer.result?.outcome.kind).toBe('consumed');
    expect(answer.result?.stateChanges).toEqual([{ kind: 'arpLearned', routerId: LAB.provider, ip: ip(peer), mac: peerMac }]);

    const parked = s.send(out(), LAB.vm2.port);
    expect(parked.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(parked.outputs)).toEqual([uplink]);
    const f = decodeChecked(parked.outputs[0].frame);
    expect(f.eth).toMatchObject({ src: uplinkMac, dst: peerMac });
    expect(formatIp(f.ip4!.src)).toBe(LAB.snatIp);
    expect(parked.flow).toBeDefined();
  });

  it('IPv6: a neighbour solicitation goes out of uplink-a; after the advertisement the packet goes through', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    s.forgetArp(LAB.provider, LAB.uplinkV6.peer);
    const v6out = () => l4Frame({ srcMac: VM3_MAC, dstMac: NET_B_GW_MAC, src: LAB.vm3.ip6, dst: '2001:db8:99::7' });
    const first = s.send(v6out(), LAB.vm3.port);
    expect(first.result?.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: LAB.provider, ip: ip(LAB.uplinkV6.peer) }] });
    expect(portsOf(first.generated)).toEqual([LAB.uplinkA.port]);
    const ns = decodeChecked(first.generated[0].frame);
    expect(ns.l4).toMatchObject({ kind: 'icmp6', type: ND_NEIGHBOR_SOLICIT });
    expect(formatIp(ns.ip6!.src)).toBe('2001:db8:ff::2');

    const na = buildNdAdvert(PEER_A_MAC, ip6(LAB.uplinkV6.peer), UPLINK_A_MAC, ip6('2001:db8:ff::2'), { router: true, solicited: true, override: true });
    expect(s.send(na, LAB.uplinkA.port).result?.stateChanges).toEqual([
      { kind: 'arpLearned', routerId: LAB.provider, ip: ip(LAB.uplinkV6.peer), mac: PEER_A_MAC },
    ]);
    const parked = s.send(v6out(), LAB.vm3.port);
    expect(portsOf(parked.outputs)).toEqual([LAB.uplinkA.port]);
    expect(decodeChecked(parked.outputs[0].frame).eth.dst).toBe(PEER_A_MAC);
  });
});

describe('ARP inside the virtual world: the floating IP with empty caches', () => {
  const inbound = () => l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '100.64.7.7', dst: LAB.floatingIp });

  it('the provider resolves the tenant, the tenant resolves vm1, then the packet reaches vm1', () => {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    s.forgetArp(LAB.provider, '198.18.0.2');
    s.forgetArp(LAB.tenant, '198.18.0.1');
    s.forgetArp(LAB.tenant, LAB.vm1.ip);

    // 1. The provider asks for 198.18.0.2 on the transit link; the tenant router answers it, both
    //    learning each other, all inside the walk of generated packets: nothing leaves the world.
    const one = s.send(inbound(), LAB.uplinkA.port);
    expect(one.result?.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: LAB.provider, ip: ip('198.18.0.2') }] });
    expect(one.result?.generated.map((g) => g.egressPortId)).toEqual([LAB.transit.provider]);
    expect(one.generated).toEqual([]);
    expect(one.generatedResults.map((r) => r.outcome.kind)).toEqual(['consumed', 'consumed']);
    expect(one.generatedResults.flatMap((r) => r.stateChanges)).toEqual([
      { kind: 'arpLearned', routerId: LAB.tenant, ip: ip('198.18.0.1'), mac: PROVIDER_TRANSIT_MAC },
      { kind: 'arpLearned', routerId: LAB.provider, ip: ip('198.18.0.2'), mac: TENANT_TRANSIT_MAC },
    ]);

    // 2. Re-run: now the tenant asks for vm1 on net-a; the request floods to both VMs.
    const two = s.send(inbound(), LAB.uplinkA.port);
    expect(two.result?.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: LAB.tenant, ip: ip(LAB.vm1.ip) }] });
    expect(portsOf(two.generated).sort()).toEqual([LAB.vm1.port, LAB.vm2.port]);
    const req = decodeChecked(two.generated[0].frame);
    expect(req.arp).toMatchObject({ op: ARP_OP_REQUEST, sha: NET_A_GW_MAC, spa: ip4('198.18.1.1'), tpa: ip4(LAB.vm1.ip) });

    // 3. vm1 answers; the bridge carries the reply to the router, which learns vm1.
    const ans = s.send(buildArpReply(VM1_MAC, ip4(LAB.vm1.ip), NET_A_GW_MAC, ip4('198.18.1.1')), LAB.vm1.port);
    expect(ans.result?.outcome.kind).toBe('consumed');
    expect(ans.result?.stateChanges).toContainEqual({ kind: 'arpLearned', routerId: LAB.tenant, ip: ip(LAB.vm1.ip), mac: VM1_MAC });

    // 4. The parked packet goes through.
    const three = s.send(inbound(), LAB.uplinkA.port);
    expect(three.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(three.outputs)).toEqual([LAB.vm1.port]);
    const f = decodeChecked(three.outputs[0].frame);
    expect(formatIp(f.ip4!.dst)).toBe(LAB.vm1.ip);
    expect(f.eth.dst).toBe(VM1_MAC);
  });
});
