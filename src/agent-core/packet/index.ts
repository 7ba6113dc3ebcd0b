// Packet codecs and the FlowMatch: the wire formats the agent reads and writes (DESIGN: Layout, packet/).
export * from './addr.js';
export * from './constants.js';
export * from './flow-match.js';
