// The megaflow table's generated whole-table lookup (table-code.ts): the same answers and counters
// as the linear-scan reference through slot reuse, growth, layout changes, collisions,
// invalidation and expiry, and the switch to the generic search and back.
import fc from 'fast-check';
import { FIELD_OFFSET, Field, KEY_WORDS } from '../../../src/agent-core/packet/flow-match.js';
import { type Flow, type FlowTable, LinearFlowTable, MegaflowTable, hashMaskedKey } from '../../../src/agent-core/flows/index.js';
import { MAX_GENERATED_SUBTABLES } from '../../../src/agent-core/flows/table-code.js';
import { L2_MASK, ROUTED_MASK, TUPLE_MASK, keyWith, maskOf, withWord } from './keys.js';

const NO_EXPIRY = { idleMs: 0, hardMs: 0 };
const L4_SRC = FIELD_OFFSET[Field.L4Src];
const portKey = (port: number, ip = 0x0a000001): Float64Array =>
  keyWith({ InPort: port, EthType: 0x0800, IpProto: 17, IpSrc: ip, IpDst: ip + 1, L4Src: 1000 + (port % 50000), L4Dst: 53 });

/** Looks every key up (the flow, and its actions from the slot) and checks both against the reference. */
function expectSameAnswers(mega: MegaflowTable<number>, ref: FlowTable<number>, keys: readonly Float64Array[]): void {
  const want = keys.map((k) => ref.lookup(k)?.id);
  expect(keys.map((k) => mega.lookup(k)?.id)).toEqual(want);
  // Actions are unique per install here: the slot's payload moved with its flow through growth and deletions.
  expect(keys.map((k) => mega.lookupActions(k))).toEqual(keys.map((k) => ref.lookup(k)?.actions));
}

/** Masks with one priority each (some sharing one), so that the generated lookup stays in use. */
const MASKS: readonly [number, number][] = [
  [TUPLE_MASK, 0],
  [ROUTED_MASK, 0],
  [L2_MASK, 2],
  [maskOf(Field.InPort), 1],
  [maskOf(Field.InPort, Field.EthType, Field.IpSrc), 0],
  [0, 0],
];

test('the generated lookup answers like the reference through random churn', () => {
  const wordValue = fc.constantFrom(0, 1, 2, 0xffffffff, 2 ** 47 + 1);
  const keysArb = fc.array(fc.array(wordValue, { minLength: KEY_WORDS, maxLength: KEY_WORDS }), { minLength: 2, maxLength: 60 });
  const opArb = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('install' as const), key: fc.nat(), mask: fc.nat(MASKS.length - 1), idle: fc.constantFrom(0, 50) }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), flow: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('invalidate' as const), tag: fc.nat(3) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.nat(40) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('check' as const) }), weight: 2 },
  );
  fc.assert(
    fc.property(keysArb, fc.array(opArb, { minLength: 20, maxLength: 120 }), (rawKeys, ops) => {
      const keys = rawKeys.map((k) => Float64Array.from(k));
      const mega = new MegaflowTable<number>();
      const ref = new LinearFlowTable<number>();
      const installed: [Flow<number>, Flow<number>][] = [];
      let now = 0;
      for (const op of ops) {
        if (op.kind === 'install') {
          const [mask, priority] = MASKS[op.mask];
          const key = keys[op.key % keys.length];
          const opts = { idleMs: op.idle, hardMs: 0, priority };
          const tags = [`t:${op.key % 4}`];
          installed.push([mega.install(key, mask, installed.length, tags, opts, now), ref.install(key, mask, installed.length, tags, opts, now)]);
        } else if (op.kind === 'delete' && installed.length > 0) {
          const [a, b] = installed[op.flow % installed.length];
          expect(mega.delete(a)).toBe(ref.delete(b));
        } else if (op.kind === 'invalidate') {
          expect(mega.invalidateTag(`t:${op.tag}`).map((f) => f.id)).toEqual(ref.invalidateTag(`t:${op.tag}`).map((f) => f.id));
        } else if (op.kind === 'expire') {
          now += op.dt;
          expect(mega.expire(now).map((f) => f.id)).toEqual(ref.expire(now).map((f) => f.id));
        } else {
          expectSameAnswers(mega, ref, keys);
        }
        expect(mega.usesGeneratedLookup()).toBe(mega.size > 0);
      }
      expectSameAnswers(mega, ref, keys);
      const { lookups, hits } = ref.stats();
      expect(mega.stats()).toMatchObject({ lookups, hits });
    }),
    { numRuns: 200 },
  );
});

test('slots freed by deletes are reused and every flow stays findable across growth and shrinking', () => {
  const mega = new MegaflowTable<number>();
  const ref = new LinearFlowTable<number>();
  const flows = new Map<number, [Flow<number>, Flow<number>]>();
  const install = (p: number): void => {
    flows.set(p, [mega.install(portKey(p), TUPLE_MASK, p, [], NO_EXPIRY, 0), ref.install(portKey(p), TUPLE_MASK, p, [], NO_EXPIRY, 0)]);
  };
  const drop = (p: number): void => {
    const pair = flows.get(p);
    if (pair === undefined) return;
    mega.delete(pair[0]);
    ref.delete(pair[1]);
    flows.delete(p);
  };
  const probeKeys = Array.from({ length: 6000 }, (_, p) => portKey(p));
  for (let p = 0; p < 5000; p++) install(p); // grows 16 -> 16384 slots
  expectSameAnswers(mega, ref, probeKeys);
  for (let p = 0; p < 5000; p += 2) drop(p);
  for (let p = 5000; p < 6000; p++) install(p); // fills freed slots
  expectSameAnswers(mega, ref, probeKeys);
  for (let p = 0; p < 6000; p++) if (p % 50 !== 0) drop(p); // shrinks
  expectSameAnswers(mega, ref, probeKeys);
  expect(mega.usesGeneratedLookup()).toBe(true);
  expect(mega.maxProbeLength()).toBeLessThan(20);
});

test('keys sharing a home slot and fingerprint are told apart by their words', () => {
  // Only L4Src varies, so the subtable hashes that one word: find three values whose hashes
  // share the low 4 bits (the home slot at 16 slots) and the top byte (the fingerprint).
  const cols = Int32Array.of(L4_SRC);
  const base = portKey(1);
  const byClass = new Map<number, number[]>();
  let same: number[] = [];
  for (let v = 0; same.length < 3; v++) {
    const h = hashMaskedKey(withWord(base, L4_SRC, v), cols);
    const cls = ((h >>> 24) << 4) | (h & 15);
    const list = byClass.get(cls) ?? [];
    list.push(v);
    byClass.set(cls, list);
    if (list.length === 3) same = list;
  }
  const [a, b, c] = same.map((v) => withWord(base, L4_SRC, v));
  const mega = new MegaflowTable<string>();
  const fa = mega.install(a, TUPLE_MASK, 'a', [], NO_EXPIRY, 0);
  const fb = mega.install(b, TUPLE_MASK, 'b', [], NO_EXPIRY, 0);
  expect(mega.maxProbeLength()).toBe(2);
  expect([mega.lookup(a), mega.lookup(b), mega.lookup(c)]).toEqual([fa, fb, undefined]);
  expect([c, b, a].map((k) => mega.lookupActions(k))).toEqual([undefined, 'b', 'a']);
  mega.delete(fa); // b shifts back into its home slot
  expect([mega.lookup(a), mega.lookup(b), mega.lookup(c)]).toEqual([undefined, fb, undefined]);
  const fc2 = mega.install(c, TUPLE_MASK, 'c', [], NO_EXPIRY, 0);
  expect([mega.lookup(a), mega.lookup(b), mega.lookup(c)]).toEqual([undefined, fb, fc2]);
});

test('invalidated and expired flows leave no slot a lookup could still find', () => {
  const mega = new MegaflowTable<number>();
  const keys = Array.from({ length: 101 }, (_, i) => portKey(i));
  keys.forEach((k, i) => mega.install(k, [TUPLE_MASK, ROUTED_MASK][i % 2], i, [`dev:${i % 3}`], { idleMs: i % 2 === 0 ? 100 : 0, hardMs: 0 }, 0));
  mega.invalidateTag('dev:0');
  mega.expire(100);
  keys.forEach((k, i) => {
    const alive = i % 3 !== 0 && i % 2 !== 0;
    expect(mega.lookup(k)?.actions).toBe(alive ? i : undefined);
    expect(mega.lookupActions(k)).toBe(alive ? i : undefined);
  });
  // Reinstalled over the freed slots, with one layout change (a new IpProto value) on the way.
  const tcp = withWord(keys[0], FIELD_OFFSET[Field.IpProto], 6);
  const again = mega.install(tcp, TUPLE_MASK, -1, [], NO_EXPIRY, 0);
  expect(mega.lookup(tcp)).toBe(again);
  expect(mega.lookup(keys[0])).toBeUndefined();
  expect(mega.lookup(keys[1])?.actions).toBe(1);
});

test('a mask with two priorities switches to the generic search and back', () => {
  const mega = new MegaflowTable<string>();
  const k = portKey(7);
  const tuple = mega.install(k, TUPLE_MASK, 'tuple', [], NO_EXPIRY, 0);
  const low = mega.install(withWord(k, FIELD_OFFSET[Field.IpDst], 1), ROUTED_MASK, 'low', [], NO_EXPIRY, 0);
  expect(mega.usesGeneratedLookup()).toBe(true);
  expect(mega.lookup(k)).toBe(tuple);
  // A second priority in the routed mask: its flows no longer share one rank.
  const over = mega.install(k, ROUTED_MASK, 'over', [], { ...NO_EXPIRY, priority: 5 }, 0);
  expect(mega.usesGeneratedLookup()).toBe(false);
  expect(mega.lookup(k)).toBe(over);
  expect(mega.lookup(withWord(k, FIELD_OFFSET[Field.IpDst], 1))).toBe(low);
  mega.delete(low);
  // One priority per mask again (5 for routed, 0 for tuple): generated, routed first.
  expect(mega.usesGeneratedLookup()).toBe(true);
  expect(mega.lookup(k)).toBe(over);
  mega.delete(over);
  expect(mega.lookup(k)).toBe(tuple);
});

test('hits are counted per mask and in the totals by both lookup paths', () => {
  const mega = new MegaflowTable<number>();
  mega.install(portKey(1), TUPLE_MASK, 1, [], NO_EXPIRY, 0);
  mega.install(portKey(2), ROUTED_MASK, 2, [], NO_EXPIRY, 0);
  const keys = [portKey(1), portKey(2), portKey(2), portKey(3)];
  for (const k of keys) mega.lookup(k);
  for (const k of keys) mega.lookupActions(k);
  expect(mega.stats()).toMatchObject({ lookups: 8, hits: 6, misses: 2 });
  const hits = new Map(mega.maskStats().map((s) => [s.mask, s.hits]));
  expect(hits.get(TUPLE_MASK)).toBe(2);
  expect(hits.get(ROUTED_MASK)).toBe(4);
});

test('constant words of any value match exactly as in the generic search', () => {
  const word = FIELD_OFFSET[Field.IpDst] + 1;
  for (const v of [NaN, -0, Infinity, -Infinity, 0.5, -1, 2 ** 53]) {
    // One flow: every word of the mask is a constant of the generated code.
    const mega = new MegaflowTable<string>();
    const ref = new LinearFlowTable<string>();
    const k = withWord(portKey(3), word, v);
    for (const t of [mega, ref] as FlowTable<string>[]) t.install(k, maskOf(Field.InPort, Field.IpDst), 'f', [], NO_EXPIRY, 0);
    expect(mega.usesGeneratedLookup()).toBe(true);
    const probes = [k, withWord(k, word, 0), withWord(k, word, 1), withWord(k, word, NaN)];
    expect(probes.map((p) => mega.lookup(p)?.actions)).toEqual(probes.map((p) => ref.lookup(p)?.actions));
  }
  // A key shorter than KEY_WORDS reads as undefined past its end: no match, no exception.
  const t = new MegaflowTable<string>();
  t.install(portKey(1), TUPLE_MASK, 'f', [], NO_EXPIRY, 0);
  expect(t.lookup(Float64Array.of(1, 2, 3))).toBeUndefined();
});

test('past the generated-code limit on masks the generic search answers', () => {
  const mega = new MegaflowTable<number>();
  const ref = new LinearFlowTable<number>();
  const fields = [Field.InPort, Field.EthSrc, Field.EthDst, Field.EthType, Field.VlanId, Field.IpProto, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst];
  const keys: Float64Array[] = [];
  for (let m = 1; keys.length <= MAX_GENERATED_SUBTABLES; m++) {
    const mask = fields.reduce<number>((acc, f, i) => ((m & (1 << i)) !== 0 ? acc | maskOf(f) : acc), 0);
    const k = portKey(m);
    keys.push(k);
    mega.install(k, mask, m, [], NO_EXPIRY, 0);
    ref.install(k, mask, m, [], NO_EXPIRY, 0);
  }
  expect(mega.masks).toBeGreaterThan(MAX_GENERATED_SUBTABLES);
  expect(mega.usesGeneratedLookup()).toBe(false);
  expectSameAnswers(mega, ref, [...keys, portKey(999)]);
});
