// Tracing is opt-in (SimulationInput.trace): a walk without it must decide exactly what the traced
// walk decides — outcome, actions, match and seen fields, tags, state changes, flows, generated
// packets — and only leave its trace empty. Same frames through two copies of the lab world.
import fc from 'fast-check';
import type { SimulationResult } from '../../../src/agent-core/simulation/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  type Delivery, LabScenario, NET_A_GW_MAC, NET_B_GW_MAC, PEER_A_MAC, PEER_B_MAC, TCP_SYN_ACK, UPLINK_A_MAC, UPLINK_B_MAC,
  VM1_MAC, VM2_MAC, VM3_MAC, l4Frame,
} from './scenario-harness.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/agent-core/packet/index.js';
import { mac } from '../simulation/sim-test-kit.js';

/** One frame and the exterior port it enters on. */
interface Sent {
  readonly frame: Uint8Array;
  readonly port: string;
}

const UNKNOWN_MAC = mac('0a:00:00:00:00:99');

/** Frames that take the lab's paths: bridged, flooded, routed, SNAT, floating IP both ways, TTL expiry, IPv6, replies. */
const sent = fc.oneof(
  fc.record({ sport: fc.integer({ min: 1024, max: 1100 }), ttl: fc.constantFrom(1, 2, 64), proto: fc.constantFrom(IPPROTO_UDP, IPPROTO_TCP) }).chain(({ sport, ttl, proto }) =>
    fc.constantFrom<Sent>(
      { frame: l4Frame({ srcMac: VM1_MAC, dstMac: VM2_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip, sport, ttl, proto }), port: LAB.vm1.port },
      { frame: l4Frame({ srcMac: VM1_MAC, dstMac: UNKNOWN_MAC, src: LAB.vm1.ip, dst: '198.18.1.99', sport, ttl, proto }), port: LAB.vm1.port },
      { frame: l4Frame({ srcMac: VM2_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm2.ip, dst: LAB.internetHost, sport, ttl, proto }), port: LAB.vm2.port },
      { frame: l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: LAB.internetHost, sport, ttl, proto }), port: LAB.vm1.port },
      { frame: l4Frame({ srcMac: VM3_MAC, dstMac: NET_B_GW_MAC, src: LAB.vm3.ip, dst: LAB.vm1.ip, sport, ttl, proto }), port: LAB.vm3.port },
      { frame: l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip6, dst: LAB.vm3.ip6, sport, ttl, proto }), port: LAB.vm1.port },
      {
        frame: l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: LAB.internetHost, dst: LAB.floatingIp, sport: 443, dport: sport, ttl, proto, tcpFlags: TCP_SYN_ACK }),
        port: LAB.uplinkA.port,
      },
      {
        frame: l4Frame({ srcMac: PEER_B_MAC, dstMac: UPLINK_B_MAC, src: LAB.internetHost, dst: LAB.snatIp, sport: 53, dport: sport, ttl, proto, tcpFlags: TCP_SYN_ACK }),
        port: LAB.uplinkB.port,
      },
    ),
  ),
);

function world(trace: boolean): LabScenario {
  const s = new LabScenario().seedNeighbours().seedVmMacs();
  s.workflow.trace = trace;
  return s;
}

/** A result with its trace left out: what the two walks must agree on. */
const decided = (r: SimulationResult | undefined): unknown => (r === undefined ? undefined : { ...r, trace: undefined });

function comparable(d: Delivery): unknown {
  return {
    path: d.path,
    result: decided(d.result),
    flowId: d.flow?.id,
    actions: d.actions,
    outputs: d.outputs,
    generated: d.generated,
    generatedResults: d.generatedResults.map(decided),
  };
}

test('untraced walks decide exactly what traced ones do, and build no trace', () => {
  fc.assert(
    fc.property(fc.array(sent, { minLength: 1, maxLength: 12 }), (frames) => {
      const traced = world(true);
      const untraced = world(false);
      let tracedLines = 0;
      for (const f of frames) {
        const a = traced.send(f.frame, f.port);
        const b = untraced.send(f.frame, f.port);
        expect(comparable(b)).toEqual(comparable(a));
        expect(b.result?.trace ?? []).toEqual([]);
        for (const g of b.generatedResults) expect(g.trace).toEqual([]);
        tracedLines += a.result?.trace.length ?? 0;
      }
      // The traced world did record its walks (a hit runs no simulation, so only when one ran).
      if (frames.length > 0 && traced.counters.simulations > 0) expect(tracedLines).toBeGreaterThan(0);
    }),
    { numRuns: 150 },
  );
});
