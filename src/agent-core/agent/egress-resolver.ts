// Turns a simulation's actions (outputs to virtual ports) into datapath actions: a local port's
// datapath number, or a tunnel to the host binding the port with that port's key (DESIGN: The
// packet's way, step 6; Tunnels). Reads where ports are bound through a view of the store.
import type { DpAction } from '../datapath/datapath.js';
import type { FlowAction } from '../simulation/index.js';
import type { Id } from '../topology/index.js';
import type { PortBindings } from './port-bindings.js';

/** Where a port is bound and where its host's tunnel ends; undefined = still loading, null = nowhere. */
export interface BindingView {
  portActive(portId: Id): { readonly hostId: Id; readonly tunnelKey: number } | null | undefined;
  hostTunnelIp(hostId: Id): string | null | undefined;
}

export interface ResolvedActions {
  readonly actions: DpAction[];
  /** Tags for invalidating the flow when a binding it used changes ("binding:<port>", "host:<host>"). */
  readonly tags: string[];
  /** Wait keys ("binding:<port>", "host:<host>") still loading: park the packet until they arrive. */
  readonly waitFor: string[];
  /** Outputs dropped because the port is bound nowhere (or its host is gone). */
  readonly unbound: Id[];
}

export function bindingTag(portId: Id): string {
  return `binding:${portId}`;
}

export function hostTag(hostId: Id): string {
  return `host:${hostId}`;
}

export function resolveEgress(actions: readonly FlowAction[], local: PortBindings, localHostId: Id, view: BindingView): ResolvedActions {
  const out: DpAction[] = [];
  const tags: string[] = [];
  const waitFor: string[] = [];
  const unbound: Id[] = [];
  for (const a of actions) {
    if (a.kind !== 'output') {
      out.push(a);
      continue;
    }
    tags.push(bindingTag(a.portId));
    const mine = local.ofPort(a.portId);
    if (mine !== undefined) {
      out.push({ kind: 'output', port: mine.dpPort });
      continue;
    }
    const active = view.portActive(a.portId);
    if (active === undefined) {
      waitFor.push(bindingTag(a.portId));
      continue;
    }
    if (active === null || active.hostId === localHostId) {
      // Bound nowhere, or the store says here but this agent no longer binds it (being unbound).
      unbound.push(a.portId);
      continue;
    }
    tags.push(hostTag(active.hostId));
    const ip = view.hostTunnelIp(active.hostId);
    if (ip === undefined) waitFor.push(hostTag(active.hostId));
    else if (ip === null) unbound.push(a.portId);
    else out.push({ kind: 'tunnel', remoteIp: ip, key: active.tunnelKey });
  }
  return { actions: out, tags, waitFor, unbound };
}
