// Behaviour every flow table must show, run against the megaflow table and its linear reference.
import { FIELD_OFFSET, Field } from '../../../src/agent-core/packet/flow-match.js';
import { type FlowTable, LinearFlowTable, MegaflowTable } from '../../../src/agent-core/flows/index.js';
import { L2_MASK, ROUTED_MASK, TUPLE_MASK, keyWith, maskOf, withWord } from './keys.js';

const NO_EXPIRY = { idleMs: 0, hardMs: 0 };

const tables: [string, () => FlowTable<string>][] = [
  ['MegaflowTable', () => new MegaflowTable<string>()],
  ['LinearFlowTable', () => new LinearFlowTable<string>()],
];

describe.each(tables)('%s', (_name, make) => {
  const tcp = keyWith({ InPort: 3, EthType: 0x0800, IpProto: 6, IpSrc: '10.0.0.5', IpDst: '192.0.2.7', L4Src: 40000, L4Dst: 443, EthSrc: 0x02aabbccddee, IpTtl: 64 });

  test('a key differing only outside the mask hits the same flow (megaflow generalisation)', () => {
    const t = make();
    const f = t.install(tcp, ROUTED_MASK, 'route', [], NO_EXPIRY, 0);
    const other = withWord(withWord(withWord(tcp, FIELD_OFFSET[Field.L4Src], 1234), FIELD_OFFSET[Field.IpSrc], 0x0a000063), FIELD_OFFSET[Field.EthSrc], 0x020000000001);
    expect(t.lookup(tcp)).toBe(f);
    expect(t.lookup(other)).toBe(f);
    expect(t.stats()).toMatchObject({ lookups: 2, hits: 2, misses: 0, flows: 1, masks: 1 });
  });

  test('a key differing in a masked field misses', () => {
    const t = make();
    t.install(tcp, ROUTED_MASK, 'route', [], NO_EXPIRY, 0);
    expect(t.lookup(withWord(tcp, FIELD_OFFSET[Field.IpDst], 0xc0000208))).toBeUndefined();
    expect(t.lookup(withWord(tcp, FIELD_OFFSET[Field.InPort], 4))).toBeUndefined();
    expect(t.lookup(withWord(tcp, FIELD_OFFSET[Field.EthType], 0x86dd))).toBeUndefined();
    expect(t.stats()).toMatchObject({ lookups: 3, hits: 0, misses: 3 });
  });

  test('overlapping masks: the most specific wins, whatever the install order', () => {
    for (const order of [0, 1]) {
      const t = make();
      const install = [
        () => t.install(tcp, ROUTED_MASK, 'routed', [], NO_EXPIRY, 0),
        () => t.install(tcp, TUPLE_MASK, 'tuple', [], NO_EXPIRY, 0),
      ];
      if (order === 1) install.reverse();
      install.forEach((i) => i());
      expect(t.lookup(tcp)?.actions).toBe('tuple');
      // Another source port leaves only the routed flow matching.
      expect(t.lookup(withWord(tcp, FIELD_OFFSET[Field.L4Src], 1))?.actions).toBe('routed');
    }
  });

  test('overlapping masks: priority beats specificity; equal rank falls back to the lower mask', () => {
    const t = make();
    t.install(tcp, TUPLE_MASK, 'tuple', [], NO_EXPIRY, 0);
    t.install(tcp, ROUTED_MASK, 'routed-high', [], { ...NO_EXPIRY, priority: 5 }, 0);
    expect(t.lookup(tcp)?.actions).toBe('routed-high');

    const u = make();
    // Two 3-field masks: InPort+EthType+IpDst (bits 0,4,12) and InPort+EthType+IpSrc (bits 0,4,11).
    const bySrc = maskOf(Field.InPort, Field.EthType, Field.IpSrc);
    u.install(tcp, ROUTED_MASK, 'by-dst', [], NO_EXPIRY, 0);
    u.install(tcp, bySrc, 'by-src', [], NO_EXPIRY, 0);
    expect(bySrc < ROUTED_MASK).toBe(true);
    expect(u.lookup(tcp)?.actions).toBe('by-src');
  });

  test('installing an identical match replaces the flow', () => {
    const t = make();
    const a = t.install(tcp, ROUTED_MASK, 'a', ['x'], NO_EXPIRY, 0);
    const b = t.install(withWord(tcp, FIELD_OFFSET[Field.L4Src], 9), ROUTED_MASK, 'b', ['y'], NO_EXPIRY, 1);
    expect(t.size).toBe(1);
    expect(a.live).toBe(false);
    expect(b.live).toBe(true);
    expect(t.lookup(tcp)).toBe(b);
    expect(t.invalidateTag('x')).toEqual([]);
    expect(t.invalidateTag('y')).toEqual([b]);
    expect(t.stats()).toMatchObject({ installs: 2, replacements: 1, invalidations: 1, flows: 0 });
  });

  test('tag invalidation removes exactly the tagged flows', () => {
    const t = make();
    const k = (port: number) => withWord(tcp, FIELD_OFFSET[Field.InPort], port);
    const f1 = t.install(k(1), ROUTED_MASK, 'f1', ['device:r1', 'route:r1'], NO_EXPIRY, 0);
    const f2 = t.install(k(2), ROUTED_MASK, 'f2', ['device:r1'], NO_EXPIRY, 0);
    const f3 = t.install(k(3), L2_MASK, 'f3', ['device:b1', 'mac:b1:0:1'], NO_EXPIRY, 0);
    expect(t.invalidateTag('device:r1').map((f) => f.id)).toEqual([f1.id, f2.id]);
    expect(t.lookup(k(1))).toBeUndefined();
    expect(t.lookup(k(2))).toBeUndefined();
    expect(t.lookup(k(3))).toBe(f3);
    expect(t.invalidateTag('route:r1')).toEqual([]);
    expect(t.invalidateTag('nothing')).toEqual([]);
    expect(t.invalidateTags(['mac:b1:0:1', 'device:b1'])).toEqual([f3]);
    expect(t.size).toBe(0);
    expect(t.stats().invalidations).toBe(3);
  });

  test('hard timeout expires at createdAt + hardMs however busy the flow', () => {
    const t = make();
    const f = t.install(tcp, ROUTED_MASK, 'f', [], { idleMs: 0, hardMs: 1000 }, 5000);
    for (let now = 5100; now < 6000; now += 100) {
      t.hit(f, 1, 64, now);
      expect(t.expire(now)).toEqual([]);
    }
    expect(t.expire(5999)).toEqual([]);
    expect(t.expire(6000)).toEqual([f]);
    expect(f.live).toBe(false);
    expect(t.lookup(tcp)).toBeUndefined();
    expect(t.stats().expirations).toBe(1);
  });

  test('idle timeout counts from the last hit, which pushes the deadline', () => {
    const t = make();
    const f = t.install(tcp, ROUTED_MASK, 'f', [], { idleMs: 1000, hardMs: 0 }, 0);
    expect(t.expire(999)).toEqual([]);
    expect(t.hit(f, 2, 128, 900)).toBe(true);
    expect(t.expire(1000)).toEqual([]); // would have gone at 1000 without the hit
    expect(t.expire(1899)).toEqual([]);
    t.hit(f, 1, 64, 1500);
    expect(t.expire(2000)).toEqual([]);
    expect(t.expire(2499)).toEqual([]);
    expect(t.expire(2500)).toEqual([f]);
    expect(f).toMatchObject({ packets: 3, bytes: 192, lastUsed: 1500, createdAt: 0 });
  });

  test('the earlier of idle and hard deadlines applies; 0 means never', () => {
    const t = make();
    const both = t.install(tcp, ROUTED_MASK, 'both', [], { idleMs: 500, hardMs: 800 }, 0);
    const never = t.install(tcp, L2_MASK, 'never', [], NO_EXPIRY, 0);
    t.hit(both, 1, 1, 400);
    expect(t.expire(799)).toEqual([]);
    expect(t.expire(800)).toEqual([both]);
    expect(t.expire(1e12)).toEqual([]);
    expect(never.live).toBe(true);
  });

  test('expire returns every due flow once, in id order', () => {
    const t = make();
    const flows = [3, 1, 2].map((sec, i) =>
      t.install(withWord(tcp, FIELD_OFFSET[Field.InPort], i), ROUTED_MASK, `f${i}`, [], { idleMs: sec * 1000, hardMs: 0 }, 0),
    );
    expect(t.expire(2500).map((f) => f.actions)).toEqual(['f1', 'f2']);
    expect(t.expire(2500)).toEqual([]);
    expect(t.expire(3000)).toEqual([flows[0]]);
  });

  test('IPv6 addresses (4 words) and 48-bit MACs hash and compare exactly', () => {
    const t = make();
    const v6 = keyWith({ InPort: 1, EthType: 0x86dd, IpDst: '2001:db8::1:2:3:4', EthDst: 0xfeffffffffff, VlanId: 10 });
    // One field more than the L2 mask, so it wins where both match.
    const routed = t.install(v6, ROUTED_MASK | maskOf(Field.IpTtl), 'v6', [], NO_EXPIRY, 0);
    const l2 = t.install(v6, L2_MASK, 'mac', [], NO_EXPIRY, 0);
    const ipOff = FIELD_OFFSET[Field.IpDst];
    for (let w = 0; w < 4; w++) {
      const k = withWord(v6, ipOff + w, v6[ipOff + w] + 1);
      expect(t.lookup(k)).toBe(l2); // only the L2 flow still matches
      expect(t.lookup(withWord(k, FIELD_OFFSET[Field.EthDst], 0xfeffffffffff - 2 ** 32))).toBeUndefined();
    }
    // MACs that share their low 32 bits, or their high 16, are different MACs.
    const mac = FIELD_OFFSET[Field.EthDst];
    const v4 = withWord(v6, ipOff, 0x0a000001);
    expect(t.lookup(withWord(v4, mac, 0xfeffffffffff - 2 ** 40))).toBeUndefined();
    expect(t.lookup(withWord(v4, mac, 0xfeff00000000 + 0xffff))).toBeUndefined();
    expect(t.lookup(withWord(v4, mac, 0xfeffffffffff))).toBe(l2);
    expect(t.lookup(v6)).toBe(routed);
    expect(routed.key()[ipOff + 3]).toBe(v6[ipOff + 3]);
  });

  test('delete, hit and iteration', () => {
    const t = make();
    const a = t.install(tcp, ROUTED_MASK, 'a', ['t'], NO_EXPIRY, 0);
    const b = t.install(tcp, L2_MASK, 'b', ['t'], NO_EXPIRY, 0);
    expect([...t].map((f) => f.id).sort()).toEqual([a.id, b.id].sort());
    expect(t.delete(a)).toBe(true);
    expect(t.delete(a)).toBe(false);
    expect(t.hit(a, 1, 1, 1)).toBe(false);
    expect(t.lookup(tcp)).toBe(b);
    expect([...t]).toEqual([b]);
    expect(t.invalidateTag('t')).toEqual([b]);
    expect(t.stats()).toMatchObject({ deletions: 1, invalidations: 1, flows: 0, masks: 0 });
    expect(t.masks).toBe(0);
  });

  test("a flow's key is its match: zero outside the mask, kept after removal", () => {
    const t = make();
    const f = t.install(tcp, ROUTED_MASK, 'a', [], NO_EXPIRY, 0);
    const expected = new Float64Array(tcp.length);
    for (const field of [Field.InPort, Field.EthType, Field.IpDst]) expected[FIELD_OFFSET[field]] = tcp[FIELD_OFFSET[field]];
    expect(f.key()).toEqual(expected);
    t.delete(f);
    expect(f.key()).toEqual(expected);
  });

  test('a flow of another table is not this one', () => {
    const t = make();
    const u = make();
    const f = u.install(tcp, ROUTED_MASK, 'a', [], NO_EXPIRY, 0);
    expect(t.hit(f, 1, 1, 1)).toBe(false);
    expect(t.delete(f)).toBe(false);
    expect(f.live).toBe(true);
  });

  test('maskStats reports flows and hits per mask', () => {
    const t = make();
    t.install(tcp, ROUTED_MASK, 'a', [], NO_EXPIRY, 0);
    t.install(withWord(tcp, 0, 9), ROUTED_MASK, 'b', [], NO_EXPIRY, 0);
    t.install(withWord(tcp, 0, 7), L2_MASK, 'c', [], NO_EXPIRY, 0);
    t.lookup(tcp);
    t.lookup(withWord(tcp, 0, 9));
    const stats = t.maskStats().sort((x, y) => x.mask - y.mask);
    expect(stats).toEqual([
      { mask: L2_MASK, fields: ['InPort', 'EthDst', 'VlanId'], flows: 1, hits: 0 },
      { mask: ROUTED_MASK, fields: ['InPort', 'EthType', 'IpDst'], flows: 2, hits: 2 },
    ]);
  });

  test('the empty mask matches every key', () => {
    const t = make();
    const f = t.install(tcp, 0, 'all', [], NO_EXPIRY, 0);
    expect(t.lookup(keyWith({}))).toBe(f);
    expect(t.lookup(tcp)).toBe(f);
  });
});
