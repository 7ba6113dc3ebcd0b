// Connection tracking for the connState condition: is this packet a forward flow or the return of a
// tracked connection? (DESIGN: Flow state, Conntrack key = 5-tuple + device.)
//
// Tracking happens at the device whose chain asks, keyed with that device's id. The reply of a
// connection crosses the same virtual device (e.g. the tenant router) because the overlay routes
// symmetrically and every host simulates the whole virtual path, so the reply's simulation, on
// whichever host it enters, looks up the very key the forward simulation recorded.
import { FRAG_LATER, Field } from '../packet/index.js';
import type { Id } from '../topology/types.js';
import type { SimContext } from './context.js';
import { currentInner, innerTuple } from './icmp-inner.js';
import { conntrackKey, ctTag, readFlowTuple, reverseTuple } from './state-keys.js';

export type ConnState = 'forward' | 'return';

const answers = new WeakMap<SimContext, Map<Id, ConnState>>();

/**
 * The packet's connection state at `deviceId`, asked once per simulation and device (later asks,
 * even after a NAT rewrite in between, get the first answer, so one run cannot record two keys).
 *
 * - Non-IP packets and later fragments (no ports to key on) are forward flows with no state.
 * - ICMP errors are the return of the connection whose datagram they embed ("related"): return
 *   when the embedded tuple's key exists; never recorded as connections of their own. Their result
 *   depends on the embedded header, which the flow key does not cover, so they are not installed.
 * - Otherwise: return when the reply-direction key (the reversed tuple) exists at this device;
 *   else forward, and the forward flow records its key (a `conntrack` state change), making the
 *   flow stateful so that it expires before the key and re-pushes it while the connection lives.
 *
 * Both directions tag "ct:<forward key>" so that the key's expiry invalidates both flows; a forward
 * flow also tags the reply-direction key it found absent, so that its creation invalidates it.
 */
export function connState(ctx: SimContext, deviceId: Id): ConnState {
  let perDevice = answers.get(ctx);
  if (perDevice === undefined) {
    perDevice = new Map();
    answers.set(ctx, perDevice);
  } else {
    const known = perDevice.get(deviceId);
    if (known !== undefined) return known;
  }
  const state = trackConnection(ctx, deviceId);
  perDevice.set(deviceId, state);
  return state;
}

function trackConnection(ctx: SimContext, deviceId: Id): ConnState {
  const m = ctx.match;
  const t = readFlowTuple(m);
  if (t === undefined) return 'forward';
  if (m.get(Field.IpFrag) === FRAG_LATER) return 'forward';
  const conntrack = ctx.views.conntrack;
  if (t.l4 === 'icmpError') {
    ctx.installFlow = false;
    const inner = currentInner(ctx);
    if (inner === undefined) return 'forward';
    const key = conntrackKey(deviceId, innerTuple(inner, t.v6));
    if (!conntrack.has(key)) return 'forward';
    ctx.tag(ctTag(key));
    return 'return';
  }
  const replyKey = conntrackKey(deviceId, reverseTuple(t));
  const key = conntrackKey(deviceId, t);
  // A tuple that reads the same both ways (src = dst, sport = dport) is its own reply key: its
  // copies are the forward direction, never a reply to itself.
  if (replyKey !== key && conntrack.has(replyKey)) {
    ctx.tag(ctTag(replyKey));
    return 'return';
  }
  ctx.stateChanges.push({ kind: 'conntrack', key });
  ctx.stateful = true;
  ctx.tag(ctTag(key));
  // "Forward" holds only while the reply-direction key is absent: if the other side opens that
  // connection later (this packet was a probe its policy dropped), the key's arrival must
  // invalidate this flow, or it would keep answering for the connection's replies.
  ctx.tag(ctTag(replyKey));
  return 'forward';
}
