// Scenario: what an installed flow holds for beyond its match (DESIGN: Flows — "the most general
// flow that is still correct"; Router — TTL, fragmentation needed / packet too big). A packet that
// hits a flow must meet the same fate as the same packet simulated in a fresh world.
import {
  ICMP6_PACKET_TOO_BIG, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_TIME_EXCEEDED, IP_TTL_CLAMP, IPPROTO_UDP,
} from '../../../src/agent-core/packet/index.js';
import { MAX_DEVICES_TRAVERSED } from '../../../src/agent-core/simulation/index.js';
import { FLOW_TIMEOUTS } from '../../../src/agent-core/agent/index.js';
import type { Chain, Port, Rule } from '../../../src/agent-core/topology/index.js';
import { DEFAULT_MTU } from '../../../src/agent-core/topology/parsed.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  LabScenario, NET_A_GW_MAC, PEER_A_MAC, UPLINK_A_MAC, VM1_MAC, VM2_MAC, decodeChecked, l4Frame, portsOf, type Delivery,
} from './scenario-harness.js';

const REMOTE = '100.64.7.7';
const REMOTE6 = '2001:db8:99::7';

/** The internet to the floating IP (provider router, then the tenant router, then vm1). */
const toFloating = (ttl: number, payload = 16, df = false): Uint8Array =>
  l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE, dst: LAB.floatingIp, sport: 40000, dport: 53, ttl, payload, df });

/** The internet to vm3 over IPv6 (no NAT on the way). */
const toVm3v6 = (payload: number): Uint8Array =>
  l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE6, dst: LAB.vm3.ip6, sport: 5353, dport: 8080, payload });

const world = (): LabScenario => new LabScenario().seedNeighbours().seedVmMacs();

/** What left the world for a packet: its own outputs' ports and TTLs, and the ICMP types devices sent back. */
function fate(d: Delivery): unknown {
  return {
    outputs: d.outputs.map((o) => [o.portId, decodeChecked(o.frame).ip4?.ttl ?? decodeChecked(o.frame).ip6?.hopLimit]),
    generated: d.generated.map((o) => {
      const l4 = decodeChecked(o.frame).l4 as { kind: string; type?: number; code?: number };
      return [o.portId, l4.kind, l4.type, l4.code];
    }),
  };
}

describe('TTL: a flow decides expiry alike for every packet it matches', () => {
  it('the key tells apart every TTL that can expire within the loop guard', () => {
    // At most MAX_DEVICES_TRAVERSED devices, so at most one fewer routers decrement before the last judges.
    expect(IP_TTL_CLAMP).toBeGreaterThanOrEqual(MAX_DEVICES_TRAVERSED + 1);
  });

  it('after a TTL-64 flow to the floating IP, each TTL from 0 to 16 meets its fresh fate (two routers on the way)', () => {
    for (let ttl = 0; ttl <= 16; ttl++) {
      const flowed = world();
      const first = flowed.send(toFloating(64), LAB.uplinkA.port);
      expect(first.flow).toBeDefined();
      const after = flowed.send(toFloating(ttl), LAB.uplinkA.port);
      const fresh = world().send(toFloating(ttl), LAB.uplinkA.port);
      expect({ ttl, fate: fate(after) }).toEqual({ ttl, fate: fate(fresh) });
      // Only the TTLs that the key holds as "13 or more" share the TTL-64 flow.
      expect({ ttl, path: after.path }).toEqual({ ttl, path: ttl >= IP_TTL_CLAMP ? 'hit' : 'simulated' });
    }
    // TTL 2 expires at the tenant router, the second one: what the old key (0, 1, "2 or more") let through.
    const d = (() => {
      const s = world();
      s.send(toFloating(64), LAB.uplinkA.port);
      return s.send(toFloating(2), LAB.uplinkA.port);
    })();
    expect(d.outputs).toEqual([]);
    expect(decodeChecked(d.generated[0].frame).l4).toMatchObject({ kind: 'icmp4', type: ICMP_TIME_EXCEEDED });
  });
});

describe('MTU: a flow holds for packets up to the smallest egress MTU a router checked', () => {
  it('records the path MTU in the result, and Infinity on a path no router judged', () => {
    const s = world();
    expect(s.send(toFloating(64), LAB.uplinkA.port).result?.maxIpLength).toBe(DEFAULT_MTU);
    // Lower the MTU of vm1's network on the tenant router: the bound follows the smaller one.
    const netA = s.topo.port(LAB.netA.gatewayPort) as Port;
    s.topo.put({ ...netA, mtu: 1400 });
    expect(s.send(toFloating(64), LAB.uplinkA.port).result?.maxIpLength).toBe(1400);
    const bridged = s.send(l4Frame({ srcMac: VM1_MAC, dstMac: VM2_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip }), LAB.vm1.port);
    expect(bridged.result?.maxIpLength).toBe(Infinity);
    expect(bridged.flow?.actions.maxIpLength).toBe(Infinity);
  });

  it('IPv6: a large packet after a small one gets packet too big, and the small ones keep their flow', () => {
    const s = world();
    const small = s.send(toVm3v6(16), LAB.uplinkA.port);
    expect(portsOf(small.outputs)).toEqual([LAB.vm3.port]);
    expect(small.flow?.actions.maxIpLength).toBe(DEFAULT_MTU);
    expect(s.send(toVm3v6(16), LAB.uplinkA.port).path).toBe('hit');

    const big = s.send(toVm3v6(1600), LAB.uplinkA.port);
    expect(big.path).toBe('simulated');
    expect(big.outputs).toEqual([]);
    expect(fate(big)).toEqual(fate(world().send(toVm3v6(1600), LAB.uplinkA.port)));
    const ptb = decodeChecked(big.generated[0].frame);
    expect(ptb.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_PACKET_TOO_BIG, rest: DEFAULT_MTU });

    // Exactly the MTU still fits: 40 + 8 + 1452 = 1500 bytes.
    expect(s.send(toVm3v6(1452), LAB.uplinkA.port).path).toBe('hit');
    expect(s.send(toVm3v6(1453), LAB.uplinkA.port).path).toBe('simulated');
    expect(s.send(toVm3v6(16), LAB.uplinkA.port).path).toBe('hit');
  });

  it('IPv4: DF set gets fragmentation needed; DF clear goes on whole on the flow, as in a fresh world', () => {
    const s = world();
    s.send(toFloating(64), LAB.uplinkA.port);
    const df = s.send(toFloating(64, 1600, true), LAB.uplinkA.port);
    expect(df.path).toBe('simulated');
    expect(df.outputs).toEqual([]);
    expect(decodeChecked(df.generated[0].frame).l4).toMatchObject({ kind: 'icmp4', type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED });
    expect(fate(df)).toEqual(fate(world().send(toFloating(64, 1600, true), LAB.uplinkA.port)));

    // Its fate does not depend on its length: the flow carries it, with no upcall.
    const whole = s.send(toFloating(64, 1600, false), LAB.uplinkA.port);
    expect(whole.path).toBe('hit');
    expect(portsOf(whole.outputs)).toEqual([LAB.vm1.port]);
    expect(fate(whole)).toEqual(fate(world().send(toFloating(64, 1600, false), LAB.uplinkA.port)));
    expect(s.send(toFloating(64), LAB.uplinkA.port).path).toBe('hit');
  });
});

describe('drop flows live seconds, errors or not', () => {
  it('a chain drop installs a flow with the drop timeouts, gone after them', () => {
    const s = world();
    const rule: Rule = {
      id: 'drop-udp-5000', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop',
      condition: { nwProto: { value: IPPROTO_UDP }, tpDst: { value: { start: 5000, end: 5100 } } },
    };
    s.topo.put(rule);
    const chain = s.topo.chain(LAB.chains.tenantPre) as Chain;
    s.topo.put({ ...chain, ruleIds: [rule.id, ...chain.ruleIds] });
    const frame = l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.vm3.ip, sport: 41000, dport: 5050 });
    const d = s.send(frame, LAB.vm1.port);
    expect(d.result?.outcome).toMatchObject({ kind: 'drop', error: false });
    expect(d.result?.expiry).toBe('drop');
    expect(d.flow).toMatchObject({ idleMs: FLOW_TIMEOUTS.drop.idleMs, hardMs: FLOW_TIMEOUTS.drop.hardMs });
    expect(FLOW_TIMEOUTS.drop.hardMs).toBeLessThanOrEqual(10_000);
    expect(s.send(frame, LAB.vm1.port).path).toBe('hit');
    s.now += FLOW_TIMEOUTS.drop.hardMs;
    s.workflow.expire(s.now);
    expect(s.send(frame, LAB.vm1.port).path).toBe('simulated');
  });
});
