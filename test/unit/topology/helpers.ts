// Shared fixtures for the topology tests: hand-written objects and issue matchers.
import type { Bridge, Port, Router, ValidationIssue } from '../../../src/agent-core/topology/index.js';

export const router = (id = 'r1'): Router => ({ type: 'router', id, adminStateUp: true });
export const bridge = (id = 'b1', over: Partial<Bridge> = {}): Bridge => ({ type: 'bridge', id, adminStateUp: true, ...over });

export const routerPort = (over: Partial<Port> = {}): Port => ({
  type: 'port',
  id: 'p1',
  deviceId: 'r1',
  deviceType: 'router',
  adminStateUp: true,
  addresses: ['10.0.0.1/24'],
  mac: '02:00:00:00:00:01',
  ...over,
});

export const bridgePort = (over: Partial<Port> = {}): Port => ({
  type: 'port',
  id: 'p1',
  deviceId: 'b1',
  deviceType: 'bridge',
  adminStateUp: true,
  ...over,
});

export const messages = (issues: readonly ValidationIssue[]): string[] => issues.map((i) => i.message);

/** Exactly one issue whose message contains `fragment`; returns it. */
export function expectIssue(issues: readonly ValidationIssue[], fragment: string): ValidationIssue {
  const hits = issues.filter((i) => i.message.includes(fragment));
  if (hits.length !== 1) {
    throw new Error(`expected one issue containing ${JSON.stringify(fragment)}, got:\n${messages(issues).join('\n') || '(none)'}`);
  }
  return hits[0];
}
