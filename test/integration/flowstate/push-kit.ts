// Shared by the flow-state push integration tests (own socket and tunnel): bounded waiting, a host's
// imports into its LocalTables, and the entries and pushes they send.
import { LocalTables } from '../../../src/agent-core/agent/local-tables.js';
import type { FlowStateEntry, FlowStatePush, ImportedState } from '../../../src/agent-core/flowstate/index.js';

/** Generous unless a test is about retransmission: a loaded machine must not cause spurious ones. */
export const RELAXED_RETRANSMIT_MS = 250;

/** What a host imported, applied to its own tables as the agent does; pass `onImport` to the transport. */
export function importingTables(): { imports: ImportedState[]; tables: LocalTables; onImport: (s: ImportedState) => void } {
  const imports: ImportedState[] = [];
  const tables = new LocalTables();
  const onImport = (s: ImportedState): void => {
    imports.push(s);
    tables.apply(s.changes, 0);
  };
  return { imports, tables, onImport };
}

/** Polls until `predicate` holds; throws naming `what` after `timeoutMs` (never an assertion on time). */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const ct = (key: string): FlowStateEntry => ({ kind: 'conntrack', key, lifetimeMs: 60000 });

export const snat: FlowStateEntry = {
  kind: 'nat', key: 'fwd-snat:router-1:6:167772165:51000:134744072:443', binding: { ip: 0xc6336401, port: 40123 },
  deviceId: 'router-1', leasedIp: 0xc6336401, lifetimeMs: 60000,
};

export const push = (...entries: FlowStateEntry[]): FlowStatePush => ({ ingressPortId: 'vm-port-1', egressPortIds: ['uplink-1'], entries });
