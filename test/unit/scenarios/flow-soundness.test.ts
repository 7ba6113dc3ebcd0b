// Megaflow soundness (DESIGN: Flows — "the installed flow matches only those fields [the
// simulation read]: the most general flow that is still correct"): a packet that hits an installed
// flow must leave exactly as it would had the simulator seen it. Two copies of the lab world take
// the same random frames; one keeps its flows, the other drops them before every frame, so it
// simulates each one with the same tables. Every frame must come out the same from both.
import fc from 'fast-check';
import {
  ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT, ICMP6_TIME_EXCEEDED, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED,
  IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN, buildIcmp4Error, buildIcmp6Error, decodeFrame, encodeFrame, isDecodeError,
  parseIp4, parseIp6, type DecodeError,
} from '../../../src/agent-core/packet/index.js';
import type { Chain, Condition, Port, Route, Rule } from '../../../src/agent-core/topology/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { mac, ping } from '../simulation/sim-test-kit.js';
import {
  type Delivery, LabScenario, NET_A_GW_MAC, NET_B_GW_MAC, PEER_A_MAC, PEER_B_MAC, UPLINK_A_MAC, UPLINK_B_MAC,
  VM1_MAC, VM2_MAC, VM3_MAC, l4Frame,
} from './scenario-harness.js';

const OTHER_MAC = mac('0a:00:00:00:00:77');
const UNKNOWN_MAC = mac('0a:00:00:00:00:99');

/** The header fields a flow may or may not have read: each drawn from a few values, so that frames share flows. */
const headers = fc.record({
  sport: fc.constantFrom(1024, 1025, 40000),
  dport: fc.constantFrom(53, 443, 5050),
  ttl: fc.constantFrom(1, 2, 3, 12, 13, 64),
  tos: fc.constantFrom(0, 0xb8),
  payload: fc.constantFrom(16, 1400, 1480),
  df: fc.boolean(),
  kind: fc.constantFrom('udp', 'tcp', 'ping'),
  tcpFlags: fc.constantFrom(TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK),
  /** A VM sending from a MAC its bridge has not seen on that port (a second address, or a move). */
  strangeSrc: fc.boolean(),
});
type Headers = typeof headers extends fc.Arbitrary<infer H> ? H : never;

/** The lab's paths: bridged, flooded, routed east-west, SNAT out and back, floating IP in and out, IPv6. */
const PATHS = [
  { name: 'vm1 -> vm2 (bridged)', srcMac: VM1_MAC, dstMac: VM2_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip, port: LAB.vm1.port },
  { name: 'vm2 -> vm1 (bridged, reply)', srcMac: VM2_MAC, dstMac: VM1_MAC, src: LAB.vm2.ip, dst: LAB.vm1.ip, port: LAB.vm2.port, swap: true },
  { name: 'vm1 -> unknown MAC (flood)', srcMac: VM1_MAC, dstMac: UNKNOWN_MAC, src: LAB.vm1.ip, dst: '198.18.1.99', port: LAB.vm1.port },
  { name: 'vm1 -> vm3 (routed)', srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.vm3.ip, port: LAB.vm1.port },
  { name: 'vm3 -> vm1 (routed, reply)', srcMac: VM3_MAC, dstMac: NET_B_GW_MAC, src: LAB.vm3.ip, dst: LAB.vm1.ip, port: LAB.vm3.port, swap: true },
  { name: 'vm2 -> internet (SNAT)', srcMac: VM2_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm2.ip, dst: LAB.internetHost, port: LAB.vm2.port },
  { name: 'internet -> SNAT address (reply)', srcMac: PEER_B_MAC, dstMac: UPLINK_B_MAC, src: LAB.internetHost, dst: LAB.snatIp, port: LAB.uplinkB.port, swap: true },
  { name: 'internet -> floating IP', srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: LAB.internetHost, dst: LAB.floatingIp, port: LAB.uplinkA.port },
  { name: 'vm1 -> internet (from its floating IP)', srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.internetHost, port: LAB.vm1.port },
  { name: 'vm1 -> vm3 (IPv6)', srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip6, dst: LAB.vm3.ip6, port: LAB.vm1.port },
  { name: 'internet -> vm3 (IPv6)', srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: '2001:db8:99::7', dst: LAB.vm3.ip6, port: LAB.uplinkA.port },
] as const;

/** A frame as fast-check draws it (and prints a counterexample): a path and its headers. */
const sent = fc.record({ path: fc.integer({ min: 0, max: PATHS.length - 1 }), h: headers });
type Sent = typeof sent extends fc.Arbitrary<infer S> ? S : never;

/**
 * A frame of a run: one of the run's few conversations (`base`), as it was or with one header
 * changed, so that frames meet the flows of earlier ones, exactly or differing in one field.
 */
const again = fc.record({
  base: fc.nat(),
  tweak: fc.option(
    fc.oneof(
      headers.map((h) => ({ ttl: h.ttl })),
      headers.map((h) => ({ payload: h.payload, df: h.df })),
      headers.map((h) => ({ tos: h.tos })),
      headers.map((h) => ({ strangeSrc: h.strangeSrc })),
      headers.map((h) => ({ sport: h.sport })),
      headers.map((h) => ({ tcpFlags: h.tcpFlags })),
    ),
    { nil: undefined },
  ),
});

/** The frame a step sends: its conversation from the run's pool, with the step's change. */
function frameOfStep(pool: readonly Sent[], st: { base: number; tweak: Partial<Headers> | undefined }): { frame: Uint8Array; port: string } {
  const b = pool[st.base % pool.length];
  return frameOf(b.path, { ...b.h, ...st.tweak });
}

function frameOf(path: number, h: Headers): { frame: Uint8Array; port: string } {
  const p = PATHS[path];
  const uplink = p.port === LAB.uplinkA.port || p.port === LAB.uplinkB.port;
  const srcMac = h.strangeSrc && !uplink ? OTHER_MAC : p.srcMac;
  const swap = 'swap' in p && p.swap;
  const sport = swap ? h.dport : h.sport;
  const dport = swap ? h.sport : h.dport;
  if (h.kind === 'ping') {
    // Echo requests out, echo replies back in (the id in the ports' place, as NAT keys it).
    const frame = ping({ srcMac, dstMac: p.dstMac, src: p.src, dst: p.dst, ttl: h.ttl, df: h.df, id: swap ? dport : sport, seq: 1 });
    return { frame, port: p.port };
  }
  const proto = h.kind === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
  const frame = l4Frame({
    srcMac, dstMac: p.dstMac, src: p.src, dst: p.dst, sport, dport, ttl: h.ttl, tos: h.tos, payload: h.payload, df: h.df, proto, tcpFlags: h.tcpFlags,
  });
  return { frame, port: p.port };
}

const world = (): LabScenario => new LabScenario().seedNeighbours().seedVmMacs();

/** How the outside answers a frame that left by an uplink: the destination's port unreachable, or a router's time exceeded. */
const answer = fc.record({ type: fc.constantFrom('unreachable', 'ttl'), ttl: fc.constantFrom(1, 64) });
type Answer = typeof answer extends fc.Arbitrary<infer A> ? A : never;

/** The ICMP error the upstream sends back into the uplink the frame left by, or undefined when it gets none. */
function icmpErrorAbout(left: { portId: string; frame: Uint8Array } | undefined, a: Answer): { frame: Uint8Array; port: string } | undefined {
  if (left === undefined) return undefined;
  const peerMac = left.portId === LAB.uplinkA.port ? PEER_A_MAC : PEER_B_MAC;
  const uplinkMac = left.portId === LAB.uplinkA.port ? UPLINK_A_MAC : UPLINK_B_MAC;
  const d = decodeFrame(left.frame, { verifyChecksums: false });
  if (isDecodeError(d)) return undefined;
  let frame: Uint8Array | DecodeError;
  if (d.ip4 !== undefined) {
    const unreachable = a.type === 'unreachable';
    const src = unreachable ? d.ip4.dst : (parseIp4('198.51.100.254') as number);
    frame = buildIcmp4Error(left.frame, unreachable ? ICMP_DEST_UNREACH : ICMP_TIME_EXCEEDED, unreachable ? ICMP_PORT_UNREACH : 0, src, peerMac, uplinkMac);
  } else if (d.ip6 !== undefined) {
    const unreachable = a.type === 'unreachable';
    const src = unreachable ? d.ip6.dst : (parseIp6('2001:db8:99::fe') as bigint);
    frame = buildIcmp6Error(left.frame, unreachable ? ICMP6_DST_UNREACH : ICMP6_TIME_EXCEEDED, unreachable ? ICMP6_DST_UNREACH_NOPORT : 0, src, peerMac, uplinkMac);
  } else return undefined;
  if (isDecodeError(frame)) return undefined;
  // The error's own TTL as it reaches the uplink (1 expires at the provider router).
  const out = setIpTtl(frame, a.ttl);
  return { frame: out, port: left.portId };
}

/** The frame with its IPv4 TTL / IPv6 hop limit set (decoded and encoded again: checksums stay right). */
function setIpTtl(frame: Uint8Array, ttl: number): Uint8Array {
  const d = decodeFrame(frame, { verifyChecksums: false });
  if (isDecodeError(d)) throw new Error(`an ICMP error the test built does not decode: ${d.reason}`);
  if (d.ip4 !== undefined) return encodeFrame({ ...d, ip4: { ...d.ip4, ttl } });
  if (d.ip6 !== undefined) return encodeFrame({ ...d, ip6: { ...d.ip6, hopLimit: ttl } });
  return frame;
}

/** The last frame of a delivery that left by an uplink. */
function lastUplinkOutput(d: Delivery): { portId: string; frame: Uint8Array } | undefined {
  const ups = d.outputs.filter((o) => o.portId === LAB.uplinkA.port || o.portId === LAB.uplinkB.port);
  return ups.length === 0 ? undefined : ups[ups.length - 1];
}

/** What left the world: the frame's own outputs and the packets devices sent, byte for byte. */
const left = (d: Delivery): unknown => ({
  outputs: d.outputs.map((o) => [o.portId, Buffer.from(o.frame).toString('hex')]),
  generated: d.generated.map((o) => [o.portId, Buffer.from(o.frame).toString('hex')]),
});

test('a packet that hits a flow leaves as the simulation would send it (same tables, no flows), ICMP errors from outside too', () => {
  const step = fc.oneof(
    { weight: 4, arbitrary: again.map((x) => ({ kind: 'frame' as const, ...x })) },
    { weight: 1, arbitrary: answer.map((x) => ({ kind: 'answer' as const, ...x })) },
  );
  const answers = { sent: 0, delivered: 0 };
  let hits = 0;
  fc.assert(
    fc.property(fc.array(sent, { minLength: 1, maxLength: 4 }), fc.array(step, { minLength: 2, maxLength: 16 }), (pool, steps) => {
      const flowed = world();
      const simulated = world();
      let lastOut: { portId: string; frame: Uint8Array } | undefined;
      for (const [i, st] of steps.entries()) {
        const sent = st.kind === 'frame' ? frameOfStep(pool, st) : icmpErrorAbout(lastOut, st);
        if (sent === undefined) continue;
        if (st.kind === 'answer') answers.sent++;
        for (const f of [...simulated.flows]) simulated.flows.delete(f);
        const a = flowed.send(sent.frame, sent.port);
        const b = simulated.send(sent.frame, sent.port);
        expect(b.path).toBe('simulated');
        expect({ i, path: a.path, ...(left(a) as object) }).toEqual({ i, path: a.path, ...(left(b) as object) });
        lastOut = lastUplinkOutput(a) ?? lastOut;
        if (a.path === 'hit') hits++;
        if (st.kind === 'answer' && a.outputs.some((o) => o.portId.startsWith('vm'))) answers.delivered++;
      }
    }),
    { numRuns: 300 },
  );
  // The answers took the reverse-NAT paths: some errors reached a VM, translated back.
  expect(answers.delivered).toBeGreaterThan(0);
  expect(answers.sent).toBeGreaterThan(answers.delivered);
  // The flows were used, or the property says nothing about them.
  expect(hits).toBeGreaterThan(200);
});

/** A drop rule at the head of the tenant's pre-routing chain, put there or taken away. */
function toggleDropRule(id: string, condition: Condition): (s: LabScenario) => void {
  return (s) => {
    const chain = s.topo.chain(LAB.chains.tenantPre) as Chain;
    if (chain.ruleIds.includes(id)) {
      s.topo.put({ ...chain, ruleIds: chain.ruleIds.filter((r) => r !== id) });
      s.topo.delete('rule', id);
      return;
    }
    s.topo.put({ type: 'rule', id, chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop', condition } as Rule);
    s.topo.put({ ...chain, ruleIds: [id, ...chain.ruleIds] });
  };
}

/**
 * Topology changes an operator makes while traffic flows, each a toggle: the world with flows must
 * drop exactly the flows they make wrong (by tag), or packets would leave as they did before.
 */
const CHANGES: readonly { readonly name: string; readonly apply: (s: LabScenario) => void }[] = [
  {
    name: 'tenant pre-routing drops UDP 5050 (or stops)',
    apply: toggleDropRule('soundness-drop', { nwProto: { value: IPPROTO_UDP }, tpDst: { value: { start: 5050, end: 5050 } } }),
  },
  {
    name: 'a stateful firewall on the tenant router: new flows from the transit dropped, returns let in (or removed)',
    apply: toggleDropRule('soundness-stateful', { connState: { value: 'forward' }, inPorts: { value: [LAB.transit.tenant] } }),
  },
  {
    name: "vm1's network MTU 1400 (or back to the default)",
    apply: (s) => {
      const p = s.topo.port(LAB.netA.gatewayPort) as Port;
      s.topo.put(p.mtu === undefined ? { ...p, mtu: 1400 } : { ...p, mtu: undefined });
    },
  },
  {
    name: 'vm2 port down (or up)',
    apply: (s) => {
      const p = s.topo.port(LAB.vm2.port) as Port;
      s.topo.put({ ...p, adminStateUp: !p.adminStateUp });
    },
  },
  {
    name: "a blackhole route for vm3's address on the tenant router (or removed)",
    apply: (s) => {
      if (s.topo.delete('route', 'soundness-blackhole') !== undefined) return;
      s.topo.put({ type: 'route', id: 'soundness-blackhole', routerId: LAB.tenant, dst: `${LAB.vm3.ip}/32`, nextHop: 'blackhole', weight: 0, origin: 'static' } as Route);
    },
  },
];

test('after topology changes and time passing, a packet that hits a flow still leaves as the simulation would send it', () => {
  const step = fc.oneof(
    { weight: 6, arbitrary: again.map((x) => ({ kind: 'frame' as const, ...x })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: CHANGES.length - 1 }).map((change) => ({ kind: 'change' as const, change })) },
    // Flows and state idle out on their own clocks (flows with state before their state).
    { weight: 1, arbitrary: fc.constantFrom(5_000, 20_000, 35_000, 70_000).map((ms) => ({ kind: 'time' as const, ms })) },
  );
  let hits = 0;
  fc.assert(
    fc.property(fc.array(sent, { minLength: 1, maxLength: 4 }), fc.array(step, { minLength: 2, maxLength: 24 }), (pool, steps) => {
      const flowed = world();
      const simulated = world();
      for (const [i, st] of steps.entries()) {
        if (st.kind === 'change') {
          CHANGES[st.change].apply(flowed);
          CHANGES[st.change].apply(simulated);
          continue;
        }
        if (st.kind === 'time') {
          for (const w of [flowed, simulated]) {
            w.now += st.ms;
            w.workflow.expire(w.now);
          }
          continue;
        }
        const { frame, port } = frameOfStep(pool, st);
        for (const f of [...simulated.flows]) simulated.flows.delete(f);
        const a = flowed.send(frame, port);
        const b = simulated.send(frame, port);
        expect(b.path).toBe('simulated');
        if (a.path === 'hit') hits++;
        expect({ i, path: a.path, ...(left(a) as object) }).toEqual({ i, path: a.path, ...(left(b) as object) });
      }
    }),
    { numRuns: 300 },
  );
  expect(hits).toBeGreaterThan(200);
});
