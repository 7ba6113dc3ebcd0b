// RoutingTable: longest prefix (IPv4, IPv6), source prefixes, weights, ECMP groups, connected routes,
// memoization by identity, and scale (100k routes), checked against a naive linear search.
import fc from 'fast-check';
import { cidrContains, formatCidr, formatIp4, maskIp, type IpAddr } from '../../../src/agent-core/packet/addr.js';
import { routeDst } from '../../../src/agent-core/topology/parsed.js';
import { RoutingTable, isConnectedRoute, routeGateway, routingTableFor } from '../../../src/agent-core/topology/routing-table.js';
import type { Port, Route } from '../../../src/agent-core/topology/types.js';
import { ip } from './sim-test-kit.js';

let n = 0;
function route(dst: string, opts: Partial<Route> = {}): Route {
  return { type: 'route', id: `rt-${++n}`, routerId: 'r1', dst, nextHop: 'port', egressPortId: 'p1', weight: 0, origin: 'static', ...opts };
}

const port = (id: string, addresses: string[]): Port => ({
  type: 'port', id, deviceId: 'r1', deviceType: 'router', adminStateUp: true, addresses, mac: '02:00:00:00:00:01',
});

const ids = (rs: readonly Route[]) => rs.map((r) => r.id);

describe('RoutingTable', () => {
  it('picks the longest matching prefix (IPv4)', () => {
    const def = route('0.0.0.0/0', { id: 'default' });
    const r16 = route('10.1.0.0/16', { id: 'r16' });
    const r24 = route('10.1.2.0/24', { id: 'r24' });
    const host = route('10.1.2.7/32', { id: 'host' });
    const t = new RoutingTable([def, r16, r24, host]);
    expect(ids(t.lookup(ip('10.1.2.7')))).toEqual(['host']);
    expect(ids(t.lookup(ip('10.1.2.8')))).toEqual(['r24']);
    expect(ids(t.lookup(ip('10.1.3.8')))).toEqual(['r16']);
    expect(ids(t.lookup(ip('192.0.2.1')))).toEqual(['default']);
    expect(new RoutingTable([r16]).lookup(ip('10.2.0.1'))).toEqual([]);
  });

  it('picks the longest matching prefix (IPv6) and keeps the families apart', () => {
    const t = new RoutingTable([
      route('::/0', { id: 'default6' }),
      route('2001:db8::/32', { id: 'r32' }),
      route('2001:db8:1::/48', { id: 'r48' }),
      route('10.0.0.0/8', { id: 'v4' }),
    ]);
    expect(ids(t.lookup(ip('2001:db8:1::5')))).toEqual(['r48']);
    expect(ids(t.lookup(ip('2001:db8:2::5')))).toEqual(['r32']);
    expect(ids(t.lookup(ip('2001:db9::5')))).toEqual(['default6']);
    // ::a00:1 has the same low 32 bits as 10.0.0.1 but is IPv6.
    expect(ids(t.lookup(ip('::a00:1')))).toEqual(['default6']);
    expect(ids(t.lookup(ip('10.0.0.1')))).toEqual(['v4']);
  });

  it('prefers the lowest weight and groups equal routes for ECMP (ordered by id)', () => {
    const t = new RoutingTable([
      route('10.0.0.0/8', { id: 'c', weight: 10 }),
      route('10.0.0.0/8', { id: 'b', weight: 5 }),
      route('10.0.0.0/8', { id: 'a', weight: 5 }),
    ]);
    expect(ids(t.lookup(ip('10.9.9.9')))).toEqual(['a', 'b']);
  });

  it('honours source prefixes: more specific source first, and needs the source to use them', () => {
    const t = new RoutingTable([
      route('0.0.0.0/0', { id: 'any' }),
      route('0.0.0.0/0', { id: 'from-tenant', src: '10.1.0.0/16' }),
      route('0.0.0.0/0', { id: 'from-host', src: '10.1.2.3/32' }),
      route('192.0.2.0/24', { id: 'only-from-x', src: '172.16.0.0/12' }),
    ]);
    expect(t.hasSrcRoutes).toBe(true);
    expect(ids(t.lookup(ip('8.8.8.8'), ip('10.1.2.3')))).toEqual(['from-host']);
    expect(ids(t.lookup(ip('8.8.8.8'), ip('10.1.9.9')))).toEqual(['from-tenant']);
    expect(ids(t.lookup(ip('8.8.8.8'), ip('10.2.0.1')))).toEqual(['any']);
    expect(ids(t.lookup(ip('8.8.8.8')))).toEqual(['any']);
    // A longer destination prefix usable only from another source falls back to a shorter one.
    expect(ids(t.lookup(ip('192.0.2.1'), ip('10.1.9.9')))).toEqual(['from-tenant']);
    expect(ids(t.lookup(ip('192.0.2.1'), ip('172.16.0.1')))).toEqual(['only-from-x']);
  });

  it('adds connected routes from port addresses, which win over a configured route of the same prefix', () => {
    const configured = route('10.0.0.0/24', { id: 'configured', egressPortId: 'elsewhere' });
    const t = new RoutingTable([configured], [port('p1', ['10.0.0.1/24', '2001:db8::1/64'])]);
    const [c4] = t.lookup(ip('10.0.0.77'));
    expect(isConnectedRoute(c4)).toBe(true);
    expect(c4).toMatchObject({ dst: '10.0.0.0/24', nextHop: 'port', egressPortId: 'p1' });
    expect(routeGateway(c4)).toBeUndefined();
    expect(t.lookup(ip('2001:db8::99'))[0]).toMatchObject({ dst: '2001:db8::/64', egressPortId: 'p1' });
  });

  it('parses gateways and leaves out routes whose text does not parse', () => {
    const gw = route('0.0.0.0/0', { gateway: '192.0.2.254' });
    const bad = route('10.0.0.0/33');
    const t = new RoutingTable([gw, bad]);
    expect(t.invalid).toEqual([bad]);
    expect(routeGateway(t.lookup(ip('10.0.0.1'))[0])).toBe(ip('192.0.2.254'));
  });

  it('is memoized per routes array and ports, and rebuilt when either changes', () => {
    const routes = [route('10.0.0.0/8')];
    const ports = [port('p1', ['10.0.0.1/24'])];
    const t1 = routingTableFor('r1', routes, ports);
    expect(routingTableFor('r1', routes, [...ports])).toBe(t1);
    expect(routingTableFor('r1', [...routes], ports)).not.toBe(t1);
    expect(routingTableFor('r1', routes, [port('p1', ['10.0.0.1/16'])])).not.toBe(t1);
    expect(routingTableFor('r2', routes, ports)).not.toBe(t1);
  });

  it('agrees with a naive longest-prefix search (property)', () => {
    const prefix = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }));
    fc.assert(
      fc.property(fc.array(prefix, { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 20 }), (ps, dsts) => {
        const routes = ps.map(([a, len], i) => route(formatCidr({ addr: maskIp(a, len), len }), { id: `q${i}`, weight: i % 3 }));
        const t = new RoutingTable(routes);
        for (const d of [...dsts, ...ps.map(([a]) => a)]) {
          expect(ids(t.lookup(d))).toEqual(ids(naive(routes, d)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('builds 100k routes and finds a route for every probe', () => {
    const routes: Route[] = [];
    for (let i = 0; i < 100_000; i++) {
      const len = 16 + (i % 9);
      const a = (0x0a000000 + i * 256 * 7) >>> 0;
      routes.push(route(`${formatIp4(maskIp(a, len) as number)}/${len}`, { id: `big-${i}` }));
    }
    routes.push(route('0.0.0.0/0', { id: 'default' }));
    const t = new RoutingTable(routes);
    const probes = Array.from({ length: 100_000 }, (_, i) => (0x0a000000 + i * 1793) >>> 0);
    let found = 0;
    for (const d of probes) if (t.lookup(d).length > 0) found++;
    expect(found).toBe(probes.length);
    // Spot-check against the naive search.
    for (const d of probes.slice(0, 20)) expect(ids(t.lookup(d))).toEqual(ids(naive(routes, d)));
  });
});

function naive(routes: readonly Route[], dst: IpAddr): Route[] {
  let best: Route[] = [];
  let bestLen = -1;
  let bestWeight = Infinity;
  for (const r of routes) {
    const c = routeDst(r);
    if (c === undefined || !cidrContains(c, dst)) continue;
    if (c.len > bestLen || (c.len === bestLen && r.weight < bestWeight)) {
      best = [r];
      bestLen = c.len;
      bestWeight = r.weight;
    } else if (c.len === bestLen && r.weight === bestWeight) {
      best.push(r);
    }
  }
  return best.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
