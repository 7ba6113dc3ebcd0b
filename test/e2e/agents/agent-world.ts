// The e2e tests run in the lab's own world (src/gateway/lab/lab-world.ts).
export { LabWorld as AgentWorld, type AgentSpec, type AgentStatus, type HostName } from '../../../src/gateway/lab/lab-world.js';
