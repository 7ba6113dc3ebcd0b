// Scenario: the flow table in front of the simulator on the lab world (DESIGN: Flows): a flow matches
// only the fields its simulation read, so packets differing elsewhere take the fast path; topology
// changes invalidate exactly the flows whose tags they carry, and the next packet is simulated anew.
import { maskFieldNames } from '../../../src/agent-core/flows/index.js';
import { formatIp } from '../../../src/agent-core/packet/index.js';
import type { Port, Route, Rule } from '../../../src/agent-core/topology/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  type L4Spec, LabScenario, NET_A_GW_MAC, PEER_A_MAC, UPLINK_A_MAC, VM1_MAC, VM2_MAC, VM3_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

const bridged = (o: Partial<L4Spec> = {}) =>
  l4Frame({ srcMac: VM1_MAC, dstMac: VM2_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip, sport: 40000, dport: 53, ...o });
const routed = (o: Partial<L4Spec> = {}) =>
  l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.vm3.ip, sport: 40000, dport: 53, ...o });
const hairpin = () => l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '100.64.7.7', dst: '100.64.9.9' });
const v6in = () => l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '2001:db8:99::7', dst: LAB.vm3.ip6 });

function lab(): LabScenario {
  return new LabScenario().seedNeighbours().seedVmMacs();
}

describe('a megaflow generalises over the fields its simulation did not read', () => {
  it('bridged vm1 -> vm2: frames differing in UDP source port, TOS, TTL or IP addresses hit one flow', () => {
    const s = lab();
    const first = s.send(bridged(), LAB.vm1.port);
    expect(first.path).toBe('simulated');
    expect(portsOf(first.outputs)).toEqual([LAB.vm2.port]);
    const names = maskFieldNames(first.flow!.mask);
    expect(names).not.toContain('L4Src');
    expect(names).not.toContain('IpTos');
    const variants = [
      bridged({ sport: 41234 }),
      bridged({ tos: 0x28 }),
      bridged({ ttl: 3 }),
      bridged({ src: '198.18.1.99', dst: '10.0.0.1', sport: 1, dport: 2 }),
      bridged({ proto: 6 }),
    ];
    for (const v of variants) {
      const d = s.send(v, LAB.vm1.port);
      expect(d.path).toBe('hit');
      expect(d.flow!.id).toBe(first.flow!.id);
      // The flow's actions carry this frame, untouched, to vm2.
      expect(portsOf(d.outputs)).toEqual([LAB.vm2.port]);
      expect([...d.outputs[0].frame]).toEqual([...v]);
    }
    expect(s.counters.simulations).toBe(1);
    expect(s.flows.size).toBe(1);
  });

  it('bridged: a different destination MAC or ingress port is a different flow', () => {
    const s = lab();
    s.send(bridged(), LAB.vm1.port);
    expect(s.send(l4Frame({ srcMac: VM1_MAC, dstMac: VM3_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip }), LAB.vm1.port).path).toBe('simulated');
    expect(s.send(bridged(), LAB.vm2.port).path).toBe('simulated');
  });

  it('routed vm1 -> vm3: another source port or TOS hits the flow, keeping its own ports; another destination does not', () => {
    const s = lab();
    const first = s.send(routed(), LAB.vm1.port);
    expect(first.path).toBe('simulated');
    const hit = s.send(routed({ sport: 41234, tos: 0x10, ttl: 30 }), LAB.vm1.port);
    expect(hit.path).toBe('hit');
    expect(hit.flow!.id).toBe(first.flow!.id);
    const f = decodeChecked(hit.outputs[0].frame);
    expect(f.l4).toMatchObject({ srcPort: 41234, dstPort: 53 });
    expect(f.ip4!.tos).toBe(0x10);
    expect(f.ip4!.ttl).toBe(29);
    expect(formatIp(f.ip4!.dst)).toBe(LAB.vm3.ip);
    // TTL 1 is not the class of 64 or 30 ("13 or more"): it is simulated, and answered with an error.
    const dying = s.send(routed({ ttl: 1 }), LAB.vm1.port);
    expect(dying.path).toBe('simulated');
    expect(dying.generated).toHaveLength(1);
    expect(s.send(routed({ dst: '198.18.2.14' }), LAB.vm1.port).path).toBe('simulated');
  });
});

describe('invalidation by tag after a topology change', () => {
  /** Installs four flows: bridged (net-a only), routed through the tenant, a provider hairpin, IPv6 to vm3. */
  function installed(s: LabScenario) {
    const flows = {
      bridged: s.send(bridged(), LAB.vm1.port).flow!,
      routed: s.send(routed(), LAB.vm1.port).flow!,
      hairpin: s.send(hairpin(), LAB.uplinkA.port).flow!,
      v6: s.send(v6in(), LAB.uplinkA.port).flow!,
    };
    for (const f of Object.values(flows)) expect(f).toBeDefined();
    expect(s.flows.size).toBe(4);
    return flows;
  }
  const invalidatedIds = (s: LabScenario) => s.topologyChanges.flatMap((c) => c.invalidated).sort((a, b) => a - b);

  it('a rule added to the tenant pre-routing chain invalidates the flows through that chain only', () => {
    const s = lab();
    const f = installed(s);
    const rule: Rule = {
      id: 'drop-to-vm3-53', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop',
      condition: { nwDst: { value: `${LAB.vm3.ip}/32` }, tpDst: { value: { start: 53, end: 53 } } },
    };
    s.topo.put(rule);
    const chain = s.topo.chain(LAB.chains.tenantPre)!;
    s.topo.put({ ...chain, ruleIds: [rule.id, ...chain.ruleIds] });
    expect(invalidatedIds(s)).toEqual([f.routed.id, f.v6.id].sort((a, b) => a - b));
    expect(f.bridged.live && f.hairpin.live).toBe(true);
    const again = s.send(routed(), LAB.vm1.port);
    expect(again.path).toBe('simulated');
    expect(again.result?.outcome).toMatchObject({ kind: 'drop', reason: `dropped by chain ${LAB.chains.tenantPre}` });
    expect(again.outputs).toEqual([]);
    // Unaffected flows still answer without simulation.
    expect(s.send(bridged(), LAB.vm1.port).path).toBe('hit');
    expect(s.send(hairpin(), LAB.uplinkA.port).path).toBe('hit');
    // The IPv6 flow was re-simulated and, not matching the IPv4 rule, is delivered as before.
    expect(portsOf(s.send(v6in(), LAB.uplinkA.port).outputs)).toEqual([LAB.vm3.port]);
  });

  it("a route added on the tenant router invalidates the tenant's routed flows, not the provider's or the bridge's", () => {
    const s = lab();
    const f = installed(s);
    const blackhole: Route = {
      type: 'route', id: 'blackhole-vm3', routerId: LAB.tenant, dst: `${LAB.vm3.ip}/32`, nextHop: 'blackhole', weight: 0, origin: 'static',
    };
    s.topo.put(blackhole);
    expect(s.topologyChanges.map((c) => c.change.tags)).toEqual([expect.arrayContaining([`route:${LAB.tenant}`])]);
    expect(invalidatedIds(s)).toEqual([f.routed.id, f.v6.id].sort((a, b) => a - b));
    const again = s.send(routed(), LAB.vm1.port);
    expect(again.path).toBe('simulated');
    expect(again.result?.outcome).toMatchObject({ kind: 'drop', reason: expect.stringContaining('blackhole') });
    expect(s.send(bridged(), LAB.vm1.port).path).toBe('hit');
    expect(s.send(hairpin(), LAB.uplinkA.port).path).toBe('hit');
    // IPv6 is routed by other routes: re-simulated, still delivered.
    expect(portsOf(s.send(v6in(), LAB.uplinkA.port).outputs)).toEqual([LAB.vm3.port]);
  });

  it('vm3 set admin-down drops what went to it, and set up again restores it; other flows stay', () => {
    const s = lab();
    const f = installed(s);
    const vm3 = s.topo.port(LAB.vm3.port)!;
    s.topo.put({ ...vm3, adminStateUp: false } satisfies Port);
    expect(invalidatedIds(s)).toEqual([f.routed.id, f.v6.id].sort((a, b) => a - b));
    const down = s.send(routed(), LAB.vm1.port);
    expect(down.result?.outcome).toMatchObject({ kind: 'drop', reason: `port ${LAB.vm3.port} is down` });
    expect(s.send(routed(), LAB.vm1.port).path).toBe('hit'); // the drop flow is installed
    expect(s.send(bridged(), LAB.vm1.port).path).toBe('hit');
    s.topo.put(vm3);
    const up = s.send(routed(), LAB.vm1.port);
    expect(up.path).toBe('simulated');
    expect(portsOf(up.outputs)).toEqual([LAB.vm3.port]);
  });

  it('uplink-a set admin-down invalidates the flows that entered or left by it', () => {
    const s = lab();
    const f = installed(s);
    const up = s.topo.port(LAB.uplinkA.port)!;
    s.topo.put({ ...up, adminStateUp: false } satisfies Port);
    const gone = invalidatedIds(s);
    expect(gone).toEqual(expect.arrayContaining([f.hairpin.id, f.v6.id]));
    expect(gone).not.toContain(f.bridged.id);
    expect(gone).not.toContain(f.routed.id);
    expect(s.send(hairpin(), LAB.uplinkA.port).result?.outcome).toMatchObject({ kind: 'drop', reason: `port ${LAB.uplinkA.port} is down` });
  });
});
