// Undoing the header rewrites of one flood copy before the next copy is output (DESIGN: The packet's
// way, step 6: one action list rewrites a single packet in order, so per-port rewrites must be reverted).
import { Field, VLAN_NONE, type FlowMatch, type HeaderModification } from '../packet/flow-match.js';
import type { FlowAction } from './types.js';

const POP_VLAN: HeaderModification = Object.freeze({ kind: 'popVlan' });

const isAddressField = (f: Field): boolean => f === Field.IpSrc || f === Field.IpDst || f === Field.NdTarget;

/**
 * The rewrites that take the packet from after actions[start, end) back to `before` (the headers
 * at the fork), in order; undefined when one of them cannot be undone: decTtl (the exact TTL is not
 * part of the match) and rewrites inside an ICMP error's embedded datagram.
 */
export function undoRewrites(actions: readonly FlowAction[], start: number, end: number, before: FlowMatch): HeaderModification[] | undefined {
  const scratch = before.fork();
  const undo: HeaderModification[] = [];
  for (let i = start; i < end; i++) {
    const a = actions[i];
    switch (a.kind) {
      case 'output':
        break;
      case 'setField':
        if (isAddressField(a.field)) {
          undo.push({ kind: 'setField', field: a.field, value: scratch.peekIp(a.field) });
          scratch.setIp(a.field, a.value);
        } else {
          undo.push({ kind: 'setField', field: a.field, value: scratch.peek(a.field) });
          scratch.set(a.field, Number(a.value));
        }
        break;
      case 'pushVlan':
        undo.push(POP_VLAN);
        scratch.set(Field.InnerVlanId, scratch.peek(Field.VlanId));
        scratch.set(Field.VlanId, a.vlanId);
        break;
      case 'popVlan': {
        const vid = scratch.peek(Field.VlanId);
        // Popping an absent tag changed nothing, so there is nothing to push back.
        if (vid !== VLAN_NONE) undo.push({ kind: 'pushVlan', vlanId: vid });
        scratch.set(Field.VlanId, scratch.peek(Field.InnerVlanId));
        scratch.set(Field.InnerVlanId, VLAN_NONE);
        break;
      }
      default:
        return undefined;
    }
  }
  return undo.reverse();
}

/** End of the prefix of actions[start..] that ends with an output (rewrites after it are useless). */
export function endAfterLastOutput(actions: readonly FlowAction[], start: number): number {
  let end = actions.length;
  while (end > start && actions[end - 1].kind !== 'output') end--;
  return end;
}

export function countOutputs(actions: readonly FlowAction[]): number {
  let n = 0;
  for (const a of actions) if (a.kind === 'output') n++;
  return n;
}
