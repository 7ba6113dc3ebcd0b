// The pure simulator: packet + ingress port + views -> SimulationResult (DESIGN: The packet's way,
// step 5; Virtual topology; Flows; Flow state). Other folders import the simulator only from here.
export * from './types.js';
export { SimContext, MAX_DEVICES_TRAVERSED } from './context.js';
export { simulate, simulateGenerated } from './simulator.js';
export { MAX_DEVICE_VISITS } from './ports.js';
export { IcmpErrorKind } from './icmp-errors.js';
export { deviceTag, routeTag, macTag, arpTag, macText } from './tags.js';
export { evaluateChain, chainError, MAX_JUMP_DEPTH, type ChainVerdict } from './chains.js';
export { conntrackKey, natKey, flowHash, readFlowTuple, type FlowTuple, type NatKeyKind } from './state-keys.js';
