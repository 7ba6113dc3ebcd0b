// The virtual topology: stored device types, validation, parsed forms, an in-memory TopologyView
// and a builder for tests and scenarios (DESIGN: Virtual topology).
export * from './types.js';
export * from './object-type.js';
export { validateObject, validateTopology, formatIssues, type ValidationIssue } from './validate.js';
export { IPV4_MIN_MTU, IPV6_MIN_MTU, MAX_MTU, VLAN_ID_MAX } from './validate-devices.js';
export * from './parsed.js';
export * from './topology-index.js';
export * from './in-memory-topology.js';
export * from './topology-builder.js';
export * from './routing-table.js';
