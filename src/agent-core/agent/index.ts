// The agent: the packet workflow and this host's local state tables (DESIGN: Layout, agent/).
export * from './local-tables.js';
export * from './packet-workflow.js';
