// The export side's desired set (src/bgp/advertised-prefixes.ts): static routes marked `advertise`
// plus the configured extras, canonical, sorted and each once; learned routes and junk left out.
import fc from 'fast-check';
import { objectTypeOf, TopologyBuilder, type Route } from '../../../src/agent-core/topology/index.js';
import { advertisedPrefixes, parseAdvertisedPrefix } from '../../../src/bgp/index.js';
import { buildLabTopology, LAB } from '../../../src/gateway/lab/lab-topology.js';

const route = (id: string, dst: string, over: Partial<Route> = {}): Route => ({
  type: 'route',
  id,
  routerId: 'provider',
  dst,
  nextHop: 'blackhole',
  weight: 0,
  origin: 'static',
  advertise: true,
  ...over,
});

test('announces marked static routes whatever their next hop, and skips unmarked ones', () => {
  const routes = [
    route('via-port', '203.0.113.0/24', { nextHop: 'port', egressPortId: 'p1', gateway: '198.18.0.2' }),
    route('blackhole', '198.51.100.0/24'),
    route('reject', '2001:db8:100::/48', { nextHop: 'reject' }),
    route('unmarked', '192.0.2.0/24', { advertise: undefined }),
    route('marked-false', '192.0.2.128/25', { advertise: false }),
  ];
  expect(advertisedPrefixes(routes, [])).toEqual({
    prefixes: ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:100::/48'],
    invalid: [],
  });
});

test('never announces a route learned over BGP, even one marked', () => {
  const learned = route('bgp:gw-a:0.0.0.0/0', '0.0.0.0/0', { origin: 'bgp', nextHop: 'port', egressPortId: 'p1' });
  expect(advertisedPrefixes([learned], []).prefixes).toEqual([]);
  expect(advertisedPrefixes([learned, route('own', '203.0.113.0/24')], []).prefixes).toEqual(['203.0.113.0/24']);
});

test('clears host bits and writes each prefix once in canonical text', () => {
  const routes = [route('a', '203.0.113.0/24'), route('b', '2001:DB8:0:1::/64')];
  const extra = ['203.0.113.7/24', '2001:db8:0:1::99/64', '203.0.113.0/24', '2001:db8:1::/64', '198.51.100.1/32'];
  expect(advertisedPrefixes(routes, extra)).toEqual({
    prefixes: ['198.51.100.1/32', '203.0.113.0/24', '2001:db8:0:1::/64', '2001:db8:1::/64'],
    invalid: [],
  });
});

test('sorts IPv4 before IPv6, then by address numerically, then by prefix length', () => {
  const extra = ['2001:db8::/32', '203.0.113.0/24', '9.0.0.0/8', '203.0.113.0/25', '::/0', '10.0.0.0/8', '2001:db8::/48'];
  expect(advertisedPrefixes(undefined, extra).prefixes).toEqual([
    '9.0.0.0/8',
    '10.0.0.0/8',
    '203.0.113.0/24',
    '203.0.113.0/25',
    '::/0',
    '2001:db8::/32',
    '2001:db8::/48',
  ]);
});

test('reports extra entries and route destinations that are no prefix, and announces the rest', () => {
  const broken = route('broken', '203.0.113.0');
  const notText = route('not-text', 42 as unknown as string);
  const out = advertisedPrefixes([broken, notText, route('ok', '198.51.100.0/24')], ['192.0.2.0/24', '192.0.2.0/33', 'uplink', '2001:db8::/129']);
  expect(out.prefixes).toEqual(['192.0.2.0/24', '198.51.100.0/24']);
  expect(out.invalid).toEqual([
    { from: 'route broken', text: '203.0.113.0' },
    { from: 'route not-text', text: '42' },
    { from: 'extra[1]', text: '192.0.2.0/33' },
    { from: 'extra[2]', text: 'uplink' },
    { from: 'extra[3]', text: '2001:db8::/129' },
  ]);
});

test('a router not loaded yet contributes nothing; the extras still count', () => {
  expect(advertisedPrefixes(undefined, [])).toEqual({ prefixes: [], invalid: [] });
  expect(advertisedPrefixes(undefined, ['203.0.113.0/24']).prefixes).toEqual(['203.0.113.0/24']);
});

test('TopologyBuilder.route passes advertise through', () => {
  const b = new TopologyBuilder();
  const r = b.router();
  expect(b.route(r, '203.0.113.0/24', { advertise: true }).advertise).toBe(true);
  expect(b.route(r, '198.51.100.0/24').advertise).toBeUndefined();
});

test('the lab announces its floating range and both IPv6 tenant nets, and nothing of the tenant router', () => {
  const routes = buildLabTopology().filter((o): o is Route => objectTypeOf(o) === 'route');
  const of = (routerId: string) => routes.filter((r) => r.routerId === routerId);
  expect(advertisedPrefixes(of(LAB.provider), []).prefixes).toEqual([LAB.floatingRange, '2001:db8:1::/64', '2001:db8:2::/64']);
  expect(advertisedPrefixes(of(LAB.tenant), [])).toEqual({ prefixes: [], invalid: [] });
});

test('the result is sorted, unique, accepted by the exporter, and a fixed point', () => {
  const v4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([a, len]) =>
    `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`,
  );
  const v6 = fc.tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 })).map(
    ([groups, len]) => `${groups.map((g) => g.toString(16)).join(':')}/${len}`,
  );
  const prefix = fc.oneof(v4, v6);
  fc.assert(
    fc.property(fc.array(prefix, { maxLength: 12 }), fc.array(fc.tuple(prefix, fc.boolean()), { maxLength: 12 }), (extra, marked) => {
      const routes = marked.map(([dst, advertise], i) => route(`r${i}`, dst, { advertise }));
      const { prefixes, invalid } = advertisedPrefixes(routes, extra);
      expect(invalid).toEqual([]);
      expect(new Set(prefixes).size).toBe(prefixes.length);
      for (const p of prefixes) expect(typeof parseAdvertisedPrefix(p)).toBe('object');
      expect(advertisedPrefixes(undefined, prefixes).prefixes).toEqual(prefixes);
      expect(advertisedPrefixes(undefined, [...prefixes].reverse()).prefixes).toEqual(prefixes);
      const wanted = extra.length + marked.filter(([, a]) => a).length;
      expect(prefixes.length).toBeLessThanOrEqual(wanted);
      if (wanted > 0) expect(prefixes.length).toBeGreaterThan(0);
    }),
    { numRuns: 200 },
  );
});
