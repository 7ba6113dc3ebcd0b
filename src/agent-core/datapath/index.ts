// The datapath's public API (DESIGN: Layout, datapath/; The packet's way; Threads and isolation): the
// Datapath contract, its in-process and worker-thread engines, AF_PACKET port I/O and the tunnel ports.
export * from './datapath.js';
export { InProcessDatapath, type InProcessDatapathOptions, compileActions, inPortTag } from './in-process-datapath.js';
export {
  WorkerDatapath, WorkerDatapathError, type WorkerDatapathOptions, type WorkerDatapathStats, type WorkerTunnelOptions,
} from './worker-datapath.js';
export * from './af-packet.js';
export * from './tunnel-port.js';
export { VxlanTunnelPort, type VxlanTunnelOptions, openVxlanTunnel } from './vxlan-tunnel.js';
export { GreTunnelPort, type GreTunnelOptions, openGreTunnel } from './gre-tunnel.js';
