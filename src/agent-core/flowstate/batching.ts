// Splits a push's entries into STATE messages that each fit one datagram (DESIGN: Flow state, Push:
// "messages batch several keys"), computing encoded sizes without encoding.
import { type IpAddr, VXLAN_HEADER_LEN, isIp6 } from '../packet/index.js';
import type { Id } from '../topology/index.js';
import { utf8Length } from './byte-io.js';
import {
  FIXED_HEADER_LEN, type FlowStateEncodeError, FlowStateEncodeReason as E, type FlowStateEntry, MAX_DATAGRAM_BYTES,
  MAX_EGRESS_PORTS, MAX_ENTRIES_PER_MESSAGE, MAX_ID_BYTES, MAX_KEY_BYTES, TAG_LEN, flowStateEncodeError,
} from './message-types.js';

function ipSize(a: IpAddr): number {
  return isIp6(a) ? 16 : 4;
}

/** Bytes the entry takes in a message, or -1 if a string in it cannot be encoded. */
export function encodedEntrySize(e: FlowStateEntry): number {
  const key = utf8Length(e.key);
  if (key < 1 || key > MAX_KEY_BYTES) return -1;
  const base = 1 + 4 + 2 + key;
  if (e.kind === 'conntrack') return base;
  const dev = utf8Length(e.deviceId);
  if (dev < 1 || dev > MAX_ID_BYTES) return -1;
  return base + 1 + ipSize(e.binding.ip) + 2 + 1 + dev + 1 + (e.leasedIp === undefined ? 0 : ipSize(e.leasedIp));
}

export interface StateHeaderFields {
  readonly sender: Id;
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
}

/** Bytes of a STATE message before its first entry, or -1 if an id cannot be encoded. */
export function stateHeaderSize(h: StateHeaderFields): number {
  const sender = utf8Length(h.sender);
  const ingress = utf8Length(h.ingressPortId);
  if (sender < 1 || sender > MAX_ID_BYTES || ingress < 0 || ingress > MAX_ID_BYTES) return -1;
  if (h.egressPortIds.length > MAX_EGRESS_PORTS) return -1;
  let n = FIXED_HEADER_LEN + 1 + sender + 4 + 1 + ingress + 1 + 2;
  for (const id of h.egressPortIds) {
    const len = utf8Length(id);
    if (len < 1 || len > MAX_ID_BYTES) return -1;
    n += 1 + len;
  }
  return n;
}

export interface Batches {
  /** Entries grouped so that each group, with the header, fits one datagram; order kept. */
  readonly batches: readonly (readonly FlowStateEntry[])[];
  /** Entries that cannot be sent: a bad string, or too large for any message alone. */
  readonly rejected: readonly FlowStateEntry[];
}

/**
 * Greedy split in order: a message is closed when the next entry would pass the byte budget or the
 * entry-count limit. The budget is the datagram's: VXLAN header + message + tag.
 */
export function splitIntoBatches(
  header: StateHeaderFields,
  entries: readonly FlowStateEntry[],
  options: { readonly maxDatagramBytes?: number; readonly tagged: boolean },
): Batches | FlowStateEncodeError {
  const headerSize = stateHeaderSize(header);
  if (headerSize < 0) return flowStateEncodeError(E.BadString, 'header');
  const budget = (options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES) - VXLAN_HEADER_LEN - (options.tagged ? TAG_LEN : 0) - headerSize;
  if (budget <= 0) return flowStateEncodeError(E.TooLarge, 'header');
  const batches: FlowStateEntry[][] = [];
  const rejected: FlowStateEntry[] = [];
  let current: FlowStateEntry[] = [];
  let used = 0;
  for (const e of entries) {
    const size = encodedEntrySize(e);
    if (size < 0 || size > budget) {
      rejected.push(e);
      continue;
    }
    if (used + size > budget || current.length === MAX_ENTRIES_PER_MESSAGE) {
      batches.push(current);
      current = [];
      used = 0;
    }
    current.push(e);
    used += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, rejected };
}
