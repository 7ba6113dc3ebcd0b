// Human-readable flows for logs, traces, the CLI and the REST API: the matched fields by name
// (FIELD_NAMES) with addresses in their usual notation (DESIGN: Interfaces for people).
import { formatIp4, formatIp6, formatMac, wordsToIp6 } from '../packet/addr.js';
import { FIELD_COUNT, FIELD_NAMES, FIELD_OFFSET, FIELD_WIDTH, Field, type FieldMask } from '../packet/flow-match.js';
import type { Flow } from './types.js';

const MAC_FIELDS: ReadonlySet<number> = new Set([Field.EthSrc, Field.EthDst, Field.ArpSha, Field.ArpTha]);
const HEX_FIELDS: ReadonlySet<number> = new Set([Field.EthType, Field.TunnelKey, Field.TcpFlags]);

/** One field of a key as text: MACs and addresses in their notation, ethertypes in hex. */
export function formatFieldValue(field: Field, key: ArrayLike<number>): string {
  const off = FIELD_OFFSET[field];
  if (FIELD_WIDTH[field] === 4) {
    // IPv4 addresses fill the first word only; anything in the other three is IPv6.
    const v4 = field !== Field.NdTarget && key[off + 1] === 0 && key[off + 2] === 0 && key[off + 3] === 0;
    return v4 ? formatIp4(key[off]) : formatIp6(wordsToIp6(key, off));
  }
  const v = key[off];
  if (MAC_FIELDS.has(field)) return formatMac(v);
  if (HEX_FIELDS.has(field)) return `0x${v.toString(16).padStart(4, '0')}`;
  return String(v);
}

/** `InPort=3,EthType=0x0800,IpDst=10.0.0.1`: the mask's fields of a key, in Field order. */
export function describeMatch(key: ArrayLike<number>, mask: FieldMask): string {
  const parts: string[] = [];
  for (let f = 0; f < FIELD_COUNT; f++) {
    if ((mask & (1 << f)) !== 0) parts.push(`${FIELD_NAMES[f]}=${formatFieldValue(f as Field, key)}`);
  }
  return parts.length === 0 ? '*' : parts.join(',');
}

/** One line per flow; `formatActions` renders the table's opaque action payload. */
export function describeFlow<A>(flow: Flow<A>, formatActions: (a: A) => string = defaultFormat): string {
  const timeouts = `idle=${flow.idleMs || '-'} hard=${flow.hardMs || '-'}`;
  const tags = flow.tags.length === 0 ? '' : ` tags=${flow.tags.join('|')}`;
  return (
    `#${flow.id} prio=${flow.priority} match(${describeMatch(flow.key(), flow.mask)}) ` +
    `actions=${formatActions(flow.actions)} packets=${flow.packets} bytes=${flow.bytes} ${timeouts}${tags}`
  );
}

function defaultFormat(a: unknown): string {
  // Header rewrites carry IPv6 addresses as bigint, which JSON cannot encode by itself.
  return JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(a);
}
