// The network state database on ZooKeeper: topology storage and its watched cache, MAC/ARP tables,
// host and port state, learned routes and SNAT block leases. DESIGN: Store (ZooKeeper).
export * from './errors.js';
export { StorePaths, DEFAULT_STORE_ROOT, encodeId, decodeId } from './paths.js';
export { ZkClient, ZkMultiError, zkErrorCode, type ZkClientOptions, type ZkSessionState, type ZkOp, type ZkCreateMode, type ZkWatchEvent } from './zk-client.js';
export { encodeTopologyObject, decodeTopologyObject, STATE_SCHEMA_VERSION } from './codec.js';
export { TopologyStore, type TopologyStoreOptions, type StoredTopologyObject } from './topology-store.js';
export { TopologyTransaction } from './topology-txn.js';
export { ZkTopologyCache, type TopologyCacheOptions, type TopologyLoadEvent } from './topology-cache.js';
export { MacTable, type MacChange } from './mac-table.js';
export { ArpTable, type ArpChange } from './arp-table.js';
export { HostState, HostStateView, type HostRecord, type PortActiveRecord, type HostStateChange } from './host-state.js';
export { TunnelPeers, type TunnelPeersListener } from './tunnel-peers.js';
export { LearnedRoutesReader, LearnedRoutesWriter, type LearnedRoutesWriterOptions, type LearnedRoute } from './learned-routes.js';
export { NatLeases, NAT_BLOCK_SIZE, NAT_BLOCKS_PER_IP, blockOfPort, type NatLeaseLost, type NatLeasesOptions } from './nat-leases.js';
export { storeLogger, type Logger } from './log.js';
