// The simulator's entry points (DESIGN: The packet's way, step 5): a received packet from its ingress
// port, or a packet a device emits through one of its ports, walked to drop, consumed or egress.
import { FlowMatch } from '../packet/flow-match.js';
import { flowMatchFromFrame } from '../packet/index.js';
import type { Id } from '../topology/types.js';
import { SimContext } from './context.js';
import { Walker, undecodableResult } from './ports.js';
import { deviceTag } from './tags.js';
import type { SimulationInput, SimulationResult, SimulationViews } from './types.js';

/**
 * Simulates a packet that entered at `input.ingressPortId`: the port's inbound chain, its device,
 * and on through interior peers until it is dropped, consumed or output on exterior ports.
 * Pure and synchronous; anything not loaded yet makes the outcome NotYet, listing what is missing.
 */
export function simulate(input: SimulationInput, views: SimulationViews): SimulationResult {
  const port = views.topology.port(input.ingressPortId);
  const ctx = new SimContext(views, input, input.match, port?.deviceId ?? input.ingressPortId);
  const w = new Walker(ctx);
  w.enterPort(input.ingressPortId, 0);
  return w.result();
}

/**
 * Simulates a packet a device emits through its port `egressPortId` (an ARP reply, an ICMP error,
 * an ARP request): the port's outbound chain, then its peer (interior) or an output (exterior).
 * Never installed as a flow: each such packet is one-off.
 */
export function simulateGenerated(frame: Uint8Array, egressPortId: Id, views: SimulationViews, trace = false): SimulationResult {
  const match = flowMatchFromFrame(frame, 0);
  if (!(match instanceof FlowMatch)) return undecodableResult(`generated frame does not decode: ${match.kind}`);
  const port = views.topology.port(egressPortId);
  const ctx = new SimContext(views, { frame, match, ingressPortId: egressPortId, trace }, match, port?.deviceId ?? egressPortId);
  ctx.installFlow = false;
  const w = new Walker(ctx);
  if (port !== undefined) {
    ctx.tag(deviceTag(port.deviceId));
    if (ctx.tracing) ctx.trace.push(`${port.deviceType} ${port.deviceId}: emits a packet`);
  }
  // The emitting device counts towards the loop guard.
  w.leavePort(egressPortId, 1, undefined);
  return w.result();
}
