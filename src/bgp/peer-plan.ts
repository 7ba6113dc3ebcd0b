// The difference between the peers gobgpd has and the peers the config wants, sorted by what each
// costs: added, removed, replaced (a new session is unavoidable), tuned in place, or untouched.
// Pure. DESIGN: Gateway roles (peers added, removed, changed as a difference); STYLE: desired vs installed.
import { sessionKey, tunablesKey } from './api-peers.js';
import { canonicalAddress, type BgpPeerConfig } from './config.js';

export interface PeerPlan {
  readonly add: readonly BgpPeerConfig[];
  readonly remove: readonly BgpPeerConfig[];
  /** ASN, password, transport, multihop or families changed: DeletePeer + AddPeer. */
  readonly replace: readonly BgpPeerConfig[];
  /** Only timers or the prefix limit changed: UpdatePeer, the session stays. */
  readonly tune: readonly BgpPeerConfig[];
  /** gobgpd needs no call (import-side settings such as the uplink port may still differ). */
  readonly unchanged: readonly BgpPeerConfig[];
}

/** `localAsn` is the global ASN (unchanged: a new one restarts gobgpd and every peer is added again). */
export function planPeers(installed: ReadonlyMap<string, BgpPeerConfig>, desired: readonly BgpPeerConfig[], localAsn: number): PeerPlan {
  const add: BgpPeerConfig[] = [];
  const replace: BgpPeerConfig[] = [];
  const tune: BgpPeerConfig[] = [];
  const unchanged: BgpPeerConfig[] = [];
  const wanted = new Set<string>();
  for (const p of desired) {
    const key = canonicalAddress(p.address);
    wanted.add(key);
    const old = installed.get(key);
    if (old === undefined) add.push(p);
    else if (sessionKey(old, localAsn) !== sessionKey(p, localAsn)) replace.push(p);
    else if (tunablesKey(old) !== tunablesKey(p)) tune.push(p);
    else unchanged.push(p);
  }
  const remove = [...installed].filter(([key]) => !wanted.has(key)).map(([, p]) => p);
  return { add, remove, replace, tune, unchanged };
}

export function isEmptyPlan(plan: PeerPlan): boolean {
  return plan.add.length + plan.remove.length + plan.replace.length + plan.tune.length === 0;
}
