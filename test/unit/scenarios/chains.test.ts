// Scenario: rule chains on the lab's tenant router, changed at run time through the topology view:
// an L4 port-range drop, and a stateful policy that lets in only the return flows of connections
// opened from inside (DESIGN: Chain / Rule / Condition; Flow state, conntrack; Flows, tags).
import { IPPROTO_TCP, IPPROTO_UDP, formatIp } from '../../../src/agent-core/packet/index.js';
import type { Chain, Rule } from '../../../src/agent-core/topology/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  LabScenario, NET_A_GW_MAC, NET_B_GW_MAC, PEER_A_MAC, UPLINK_A_MAC, VM1_MAC, VM3_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

/** Puts `rules` into the tenant's pre-routing chain, first or last, as an operator's API call would. */
function addPreRoutingRules(s: LabScenario, rules: readonly Rule[], where: 'first' | 'last'): void {
  const chain = s.topo.chain(LAB.chains.tenantPre)!;
  for (const r of rules) s.topo.put(r);
  const ids = rules.map((r) => r.id);
  const next: Chain = { ...chain, ruleIds: where === 'first' ? [...ids, ...chain.ruleIds] : [...chain.ruleIds, ...ids] };
  s.topo.put(next);
}

describe('a pre-routing rule dropping UDP destination ports 5000-5100', () => {
  const dropRange: Rule = {
    id: 'drop-udp-5000-5100', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop',
    condition: { nwProto: { value: IPPROTO_UDP }, tpDst: { value: { start: 5000, end: 5100 } } },
  };
  const toVm3 = (dport: number, proto: typeof IPPROTO_UDP | typeof IPPROTO_TCP = IPPROTO_UDP) =>
    l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.vm3.ip, proto, sport: 41000, dport });

  function lab(): LabScenario {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    addPreRoutingRules(s, [dropRange], 'first');
    return s;
  }

  const cases: [number, boolean][] = [
    [1, true], [4999, true], [5000, false], [5001, false], [5050, false], [5099, false], [5100, false], [5101, true], [65535, true],
  ];

  it.each(cases)('UDP port %i from vm1 to vm3: delivered = %s', (dport, delivered) => {
    const s = lab();
    const d = s.send(toVm3(dport), LAB.vm1.port);
    if (delivered) {
      expect(d.result?.outcome).toEqual({ kind: 'forward' });
      expect(portsOf(d.outputs)).toEqual([LAB.vm3.port]);
      const f = decodeChecked(d.outputs[0].frame);
      expect(f.eth).toMatchObject({ src: NET_B_GW_MAC, dst: VM3_MAC });
      expect(f.l4).toMatchObject({ kind: 'udp', dstPort: dport });
      expect(f.ip4!.ttl).toBe(63);
    } else {
      expect(d.result?.outcome).toMatchObject({ kind: 'drop', error: false, reason: `dropped by chain ${LAB.chains.tenantPre}` });
      expect(d.outputs).toEqual([]);
      expect(d.generated).toEqual([]);
    }
  });

  it('TCP to a port in the range is not matched by the UDP rule', () => {
    const s = lab();
    expect(portsOf(s.send(toVm3(5050, IPPROTO_TCP), LAB.vm1.port).outputs)).toEqual([LAB.vm3.port]);
  });

  it('flows installed for ports on either side of a boundary keep their own decision', () => {
    const s = lab();
    const order = [4999, 5000, 5100, 5101, 4999, 5000, 5100, 5101, 5050];
    const seen = order.map((p) => {
      const d = s.send(toVm3(p), LAB.vm1.port);
      return [p, d.path, portsOf(d.outputs).join(',')];
    });
    expect(seen).toEqual([
      [4999, 'simulated', 'vm3'], [5000, 'simulated', ''], [5100, 'simulated', ''], [5101, 'simulated', 'vm3'],
      [4999, 'hit', 'vm3'], [5000, 'hit', ''], [5100, 'hit', ''], [5101, 'hit', 'vm3'],
      [5050, 'simulated', ''],
    ]);
  });
});

describe('a stateful tenant policy: from the transit port only return flows come in', () => {
  const REMOTE6 = '2001:db8:99::7';
  const policy: Rule[] = [
    { id: 'accept-return', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'accept', condition: { inPorts: { value: [LAB.transit.tenant] }, connState: 'return' } },
    { id: 'drop-inbound', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop', condition: { inPorts: { value: [LAB.transit.tenant] } } },
  ];
  // The floating IP and reverse SNAT rules stay first: translated traffic keeps its own way in.
  function lab(): LabScenario {
    const s = new LabScenario().seedNeighbours().seedVmMacs();
    addPreRoutingRules(s, policy, 'last');
    return s;
  }
  const outbound = (sport = 40000) =>
    l4Frame({ srcMac: VM3_MAC, dstMac: NET_B_GW_MAC, src: LAB.vm3.ip6, dst: REMOTE6, sport, dport: 53 });
  const inbound = (src = REMOTE6, sport = 53, dport = 40000) =>
    l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src, dst: LAB.vm3.ip6, sport, dport });

  it('an outbound connection goes out, and its reply is accepted as a return flow and delivered', () => {
    const s = lab();
    const out = s.send(outbound(), LAB.vm3.port);
    expect(out.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(out.outputs)).toEqual([LAB.uplinkA.port]);
    expect(out.result?.stateChanges.filter((c) => c.kind === 'conntrack')).toHaveLength(1);
    expect(out.result?.expiry).toBe('stateful');
    const back = s.send(inbound(), LAB.uplinkA.port);
    expect(back.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(back.outputs)).toEqual([LAB.vm3.port]);
    expect(back.result?.trace).toContain(`chain ${LAB.chains.tenantPre}: rule accept-return accept`);
    const f = decodeChecked(back.outputs[0].frame);
    expect(formatIp(f.ip6!.src)).toBe(REMOTE6);
    expect(f.ip6!.hopLimit).toBe(62);
    // Replies keep coming on the installed flow.
    expect(s.send(inbound(), LAB.uplinkA.port).path).toBe('hit');
  });

  it('an unsolicited inbound packet is dropped, also once another connection exists', () => {
    const s = lab();
    s.send(outbound(), LAB.vm3.port);
    for (const [src, sport, dport] of [['2001:db8:99::8', 53, 40000], [REMOTE6, 53, 40001], [REMOTE6, 54, 40000]] as const) {
      const d = s.send(inbound(src, sport, dport), LAB.uplinkA.port);
      expect(d.result?.outcome).toMatchObject({ kind: 'drop', reason: `dropped by chain ${LAB.chains.tenantPre}` });
      expect(d.result?.trace).toContain(`chain ${LAB.chains.tenantPre}: rule drop-inbound drop`);
      // A dropped packet leaves no connection behind.
      expect(d.result?.stateChanges.filter((c) => c.kind === 'conntrack')).toEqual([]);
    }
  });

  it('the floating IP still comes in: its NAT rule accepts before the policy', () => {
    const s = lab();
    const d = s.send(l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '100.64.7.7', dst: LAB.floatingIp }), LAB.uplinkA.port);
    expect(portsOf(d.outputs)).toEqual([LAB.vm1.port]);
  });

  it('a dropped probe installed as a flow does not shadow the reply of a connection opened afterwards', () => {
    const s = lab();
    const probe = s.send(inbound(), LAB.uplinkA.port);
    expect(probe.result?.outcome.kind).toBe('drop');
    expect(probe.flow).toBeDefined();
    expect(s.send(inbound(), LAB.uplinkA.port).path).toBe('hit');
    // vm3 now opens the connection the probe's tuple is the reply of.
    s.send(outbound(), LAB.vm3.port);
    expect(probe.flow!.live).toBe(false);
    const back = s.send(inbound(), LAB.uplinkA.port);
    expect(back.path).toBe('simulated');
    expect(portsOf(back.outputs)).toEqual([LAB.vm3.port]);
  });
});
