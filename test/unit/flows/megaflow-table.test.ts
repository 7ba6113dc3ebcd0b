// What only the megaflow table has: subtables per mask, no leaks in its indexes, batched lookup,
// generated per-mask code that agrees with the reference hash, and hash spread.
import fc from 'fast-check';
import { FIELD_COUNT, FIELD_OFFSET, Field, KEY_WORDS } from '../../../src/agent-core/packet/flow-match.js';
import {
  type Flow,
  MegaflowTable,
  describeFlow,
  hashMaskedKey,
  maskWordOffsets,
  maskedKeyEquals,
} from '../../../src/agent-core/flows/index.js';
import { layoutCode } from '../../../src/agent-core/flows/mask-code.js';
import { L2_MASK, ROUTED_MASK, TUPLE_MASK, keyWith, maskOf, withWord } from './keys.js';

const NO_EXPIRY = { idleMs: 0, hardMs: 0 };
const portKey = (port: number, ip = 0x0a000001): Float64Array =>
  keyWith({ InPort: port, EthType: 0x0800, IpProto: 17, IpSrc: ip, IpDst: ip + 1, L4Src: 1000 + (port % 50000), L4Dst: 53 });

test('removing every flow, by every path, leaves every index empty', () => {
  const t = new MegaflowTable<number>();
  const flows: Flow<number>[] = [];
  for (let i = 0; i < 300; i++) {
    const mask = [L2_MASK, ROUTED_MASK, TUPLE_MASK][i % 3];
    flows.push(t.install(portKey(i), mask, i, [`dev:${i % 7}`, `ct:${i}`, 'all'], { idleMs: 1000 + i, hardMs: 0 }, 0));
  }
  // Replace some, delete some, invalidate some, expire the rest.
  for (let i = 0; i < 30; i++) t.install(portKey(i), [L2_MASK, ROUTED_MASK, TUPLE_MASK][i % 3], -i, [`ct:${i}`], NO_EXPIRY, 0);
  for (let i = 30; i < 60; i++) t.delete(flows[i]);
  t.invalidateTag('dev:3');
  expect(t.indexSizes().subtables).toBe(3);
  t.invalidateTags(Array.from({ length: 30 }, (_, i) => `ct:${i}`));
  const left = t.size;
  expect(t.expire(10_000).length).toBe(left);
  expect(t.size).toBe(0);
  expect(t.masks).toBe(0);
  expect(t.indexSizes()).toEqual({ subtables: 0, probeOrder: 0, tags: 0, deadlines: 0 });
  expect([...t]).toEqual([]);
});

test('a mask keeps its subtable only while it has flows', () => {
  const t = new MegaflowTable<string>();
  const a = t.install(portKey(1), ROUTED_MASK, 'a', [], NO_EXPIRY, 0);
  const b = t.install(portKey(2), ROUTED_MASK, 'b', [], NO_EXPIRY, 0);
  t.install(portKey(1), L2_MASK, 'c', [], NO_EXPIRY, 0);
  expect(t.masks).toBe(2);
  t.delete(a);
  expect(t.masks).toBe(2);
  t.delete(b);
  expect(t.masks).toBe(1);
  expect(t.maskStats().map((s) => s.mask)).toEqual([L2_MASK]);
});

test('priorities inside one mask and across masks', () => {
  const t = new MegaflowTable<string>();
  const k = portKey(5);
  t.install(k, TUPLE_MASK, 'tuple-0', [], NO_EXPIRY, 0);
  const low = t.install(withWord(k, FIELD_OFFSET[Field.InPort], 6), ROUTED_MASK, 'routed-1', [], { ...NO_EXPIRY, priority: 1 }, 0);
  const high = t.install(k, ROUTED_MASK, 'routed-9', [], { ...NO_EXPIRY, priority: 9 }, 0);
  expect(t.lookup(k)).toBe(high);
  t.delete(high);
  expect(t.lookup(k)?.actions).toBe('tuple-0');
  expect(t.lookup(withWord(k, FIELD_OFFSET[Field.InPort], 6))).toBe(low);
});

test('insert/delete churn in one subtable keeps every remaining flow findable', () => {
  const t = new MegaflowTable<number>();
  const live = new Map<number, Flow<number>>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let step = 0; step < 20_000; step++) {
    const port = rnd(3000);
    const cur = live.get(port);
    if (cur !== undefined && rnd(2) === 0) {
      expect(t.delete(cur)).toBe(true);
      live.delete(port);
    } else {
      live.set(port, t.install(portKey(port), TUPLE_MASK, port, [], NO_EXPIRY, step));
    }
    if (step % 997 === 0) {
      for (let p = 0; p < 3000; p++) expect(t.lookup(portKey(p))).toBe(live.get(p));
    }
  }
  expect(t.size).toBe(live.size);
  for (const f of live.values()) t.delete(f);
  expect(t.indexSizes().subtables).toBe(0);
});

test('sequential addresses and ports spread over the slots', () => {
  const t = new MegaflowTable<number>();
  for (let i = 0; i < 50_000; i++) t.install(portKey(i, 0x0a000000 + i), TUPLE_MASK, i, [], NO_EXPIRY, 0);
  for (let i = 0; i < 20_000; i++) t.install(keyWith({ InPort: 1, EthDst: 0x020000000000 + i * 2 ** 32, VlanId: 1 }), L2_MASK, i, [], NO_EXPIRY, 0);
  expect(t.size).toBe(70_000);
  expect(t.maxProbeLength()).toBeLessThan(40);
});

test('the generated per-mask hash equals the reference definition', () => {
  const word = fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    fc.constantFrom(0.5, -1, 2 ** 52, Number.MAX_SAFE_INTEGER),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** FIELD_COUNT - 1 }),
      fc.integer({ min: 0, max: 2 ** KEY_WORDS - 1 }),
      fc.array(word, { minLength: KEY_WORDS, maxLength: KEY_WORDS }),
      (mask, split, words) => {
        const key = Float64Array.from(words);
        const offsets = [...maskWordOffsets(mask)];
        const cols = Int32Array.from(offsets.filter((w) => (split & (1 << w)) !== 0));
        const consts = Int32Array.from(offsets.filter((w) => (split & (1 << w)) === 0));
        expect(layoutCode(cols, consts).hash(key)).toBe(hashMaskedKey(key, cols));
      },
    ),
    { numRuns: 300 },
  );
});

test('out-of-contract words (fractions, negatives, beyond 2^32) still match exactly', () => {
  const t = new MegaflowTable<string>();
  const odd = withWord(withWord(portKey(1), FIELD_OFFSET[Field.L4Src], 0.5), FIELD_OFFSET[Field.IpDst], 2 ** 40 + 3);
  const f = t.install(odd, TUPLE_MASK, 'odd', [], NO_EXPIRY, 0);
  expect(t.lookup(odd)).toBe(f);
  expect(t.lookup(withWord(odd, FIELD_OFFSET[Field.L4Src], 0))).toBeUndefined();
  expect(t.lookup(withWord(odd, FIELD_OFFSET[Field.IpDst], 3))).toBeUndefined();
  expect(maskedKeyEquals(f.key(), odd, TUPLE_MASK)).toBe(true);
});

test('describeFlow names the matched fields in their notation', () => {
  const t = new MegaflowTable<{ out: string }>();
  const k = keyWith({ InPort: 3, EthType: 0x86dd, IpDst: '2001:db8::7', EthDst: 0x02aabbccddee, VlanId: 100 });
  const f = t.install(k, maskOf(Field.InPort, Field.EthType, Field.IpDst, Field.EthDst), { out: 'p1' }, ['device:r'], { idleMs: 60_000, hardMs: 0 }, 0);
  t.hit(f, 2, 200, 10);
  expect(describeFlow(f)).toBe(
    `#${f.id} prio=0 match(InPort=3,EthDst=02:aa:bb:cc:dd:ee,EthType=0x86dd,IpDst=2001:db8::7) ` +
      'actions={"out":"p1"} packets=2 bytes=200 idle=60000 hard=- tags=device:r',
  );
  const g = t.install(keyWith({ IpSrc: '10.1.2.3' }), maskOf(Field.IpSrc), { out: 'x' }, [], NO_EXPIRY, 0);
  expect(describeFlow(g, (a) => a.out)).toContain('match(IpSrc=10.1.2.3) actions=x');
});

test('a word that all flows shared becomes a column when one flow differs in it', () => {
  const t = new MegaflowTable<number>();
  const flows: Flow<number>[] = [];
  for (let i = 0; i < 1000; i++) flows.push(t.install(portKey(i), TUPLE_MASK, i, [], NO_EXPIRY, 0));
  // Every flow so far is IPv4/UDP with zero upper address words; now one is not.
  const v6 = withWord(withWord(portKey(5), FIELD_OFFSET[Field.EthType], 0x86dd), FIELD_OFFSET[Field.IpDst] + 3, 7);
  const odd = t.install(v6, TUPLE_MASK, -1, [], NO_EXPIRY, 0);
  const tcp = t.install(withWord(portKey(6), FIELD_OFFSET[Field.IpProto], 6), TUPLE_MASK, -2, [], NO_EXPIRY, 0);
  for (let i = 0; i < 1000; i++) expect(t.lookup(portKey(i))).toBe(flows[i]);
  expect(t.lookup(v6)).toBe(odd);
  expect(t.lookup(withWord(v6, FIELD_OFFSET[Field.IpDst] + 3, 0))).toBeUndefined();
  expect(t.lookup(withWord(portKey(6), FIELD_OFFSET[Field.IpProto], 6))).toBe(tcp);
  expect(odd.key()[FIELD_OFFSET[Field.IpDst] + 3]).toBe(7);
  expect(flows[5].key()).toEqual(Float64Array.from(portKey(5), (v, w) => (maskWordOffsets(TUPLE_MASK).includes(w) ? v : 0)));
  // Keys that differ from every flow in a word all flows share miss before any hashing.
  expect(t.lookup(withWord(portKey(1), FIELD_OFFSET[Field.EthType], 0x0806))).toBeUndefined();
  for (const f of [...flows, odd, tcp]) t.delete(f);
  expect(t.indexSizes().subtables).toBe(0);
  // An emptied mask starts afresh.
  const again = t.install(v6, TUPLE_MASK, 1, [], NO_EXPIRY, 0);
  expect(t.lookup(v6)).toBe(again);
  expect(t.lookup(portKey(5))).toBeUndefined();
});
