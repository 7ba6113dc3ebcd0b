// Key builders shared by the flow-table tests.
import { FIELD_OFFSET, Field, KEY_WORDS, VLAN_NONE, fieldBit, type FieldMask } from '../../../src/agent-core/packet/flow-match.js';
import { ip6ToWords, parseIp4, parseIp6 } from '../../../src/agent-core/packet/addr.js';

export const maskOf = (...fields: Field[]): FieldMask => fields.reduce<FieldMask>((m, f) => m | fieldBit(f), 0);

export const L2_MASK = maskOf(Field.InPort, Field.EthDst, Field.VlanId);
export const ROUTED_MASK = maskOf(Field.InPort, Field.EthType, Field.IpDst);
export const TUPLE_MASK = maskOf(Field.InPort, Field.EthType, Field.IpProto, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst);

/** A full key with a few fields set; everything else as an empty FlowMatch has it. */
export function keyWith(fields: Partial<Record<keyof typeof Field, number | string>>): Float64Array {
  const k = new Float64Array(KEY_WORDS);
  k[FIELD_OFFSET[Field.VlanId]] = VLAN_NONE;
  k[FIELD_OFFSET[Field.InnerVlanId]] = VLAN_NONE;
  for (const [name, value] of Object.entries(fields)) {
    const f = Field[name as keyof typeof Field];
    const off = FIELD_OFFSET[f];
    if (typeof value === 'number') {
      k[off] = value;
    } else if (value.includes(':')) {
      const a = parseIp6(value);
      if (a === undefined) throw new Error(`bad IPv6 ${value}`);
      ip6ToWords(a, k, off);
    } else {
      const a = parseIp4(value);
      if (a === undefined) throw new Error(`bad IPv4 ${value}`);
      k[off] = a;
    }
  }
  return k;
}

/** A copy of `key` with one word changed. */
export function withWord(key: Float64Array, word: number, value: number): Float64Array {
  const k = Float64Array.from(key);
  k[word] = value;
  return k;
}
