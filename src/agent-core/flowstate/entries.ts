// Between a simulation's state changes and pushed entries (DESIGN: Flow state): only conntrack keys
// and NAT bindings travel in the push; learned MACs and ARP entries are shared through the store.
import type { StateChange } from '../simulation/index.js';
import { DEFAULT_STATE_LIFETIME_MS, type FlowStateEntry } from './message-types.js';

/** The entries to push for a simulation's state changes, each with the lifetime hint given. */
export function flowStateEntriesOf(changes: readonly StateChange[], lifetimeMs = DEFAULT_STATE_LIFETIME_MS): FlowStateEntry[] {
  const out: FlowStateEntry[] = [];
  for (const c of changes) {
    if (c.kind === 'conntrack') out.push({ kind: 'conntrack', key: c.key, lifetimeMs });
    else if (c.kind === 'nat') {
      out.push(
        c.leasedIp === undefined
          ? { kind: 'nat', key: c.key, binding: c.binding, deviceId: c.deviceId, lifetimeMs }
          : { kind: 'nat', key: c.key, binding: c.binding, deviceId: c.deviceId, leasedIp: c.leasedIp, lifetimeMs },
      );
    }
  }
  return out;
}

/** The state change that imports a received entry into the local tables (LocalTables.apply). */
export function stateChangeOf(e: FlowStateEntry): StateChange {
  if (e.kind === 'conntrack') return { kind: 'conntrack', key: e.key };
  return e.leasedIp === undefined
    ? { kind: 'nat', key: e.key, binding: e.binding, deviceId: e.deviceId }
    : { kind: 'nat', key: e.key, binding: e.binding, deviceId: e.deviceId, leasedIp: e.leasedIp };
}
