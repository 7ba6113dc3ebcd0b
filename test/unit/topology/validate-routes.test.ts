// Validation of routes, port groups and whole-topology checks (duplicates); validation never throws.
import fc from 'fast-check';
import {
  InMemoryTopology,
  formatIssues,
  validateObject,
  validateTopology,
  type Route,
  type TopologyObject,
} from '../../../src/agent-core/topology/index.js';
import { bridge, bridgePort, expectIssue, messages, router, routerPort } from './helpers.js';

const route = (over: Partial<Route> = {}): Route => ({
  type: 'route',
  id: 'rt1',
  routerId: 'r1',
  dst: '192.0.2.0/24',
  nextHop: 'port',
  egressPortId: 'p1',
  weight: 0,
  origin: 'static',
  ...over,
});

const view = () =>
  new InMemoryTopology([
    router('r1'),
    router('r2'),
    routerPort({ id: 'p1' }),
    routerPort({ id: 'p2', deviceId: 'r2' }),
    bridge('b1'),
    bridgePort({ id: 'bp1' }),
  ]);

describe('routes', () => {
  it('accepts a well-formed route against its router', () => {
    expect(validateObject(route(), view())).toEqual([]);
    expect(validateObject(route({ dst: '2001:db8::/32', gateway: 'fe80::1' }), view())).toEqual([]);
    expect(validateObject(route({ dst: '0.0.0.0/0', gateway: '10.0.0.254', weight: 10, origin: 'bgp' }), view())).toEqual([]);
  });

  it('refuses bad dst and src CIDRs', () => {
    expectIssue(validateObject(route({ dst: '10.0.0/8' })), 'route rt1: dst "10.0.0/8" is not a valid CIDR');
    expectIssue(validateObject(route({ src: '10.0.0.0/99' })), 'src "10.0.0.0/99" is not a valid CIDR: prefix length 99 is outside 0..32');
    expectIssue(validateObject(route({ src: '2001:db8::/64' })), 'src "2001:db8::/64" is IPv6 but dst "192.0.2.0/24" is IPv4');
  });

  it('refuses host bits in dst, suggesting the network', () => {
    expectIssue(validateObject(route({ dst: '192.0.2.1/24' })), 'route rt1: dst "192.0.2.1/24" has host bits set; did you mean "192.0.2.0/24"?');
    expectIssue(validateObject(route({ dst: '2001:db8::1/64' })), 'did you mean "2001:db8::/64"?');
    expectIssue(validateObject(route({ src: '10.1.2.3/8' })), 'src "10.1.2.3/8" has host bits set; did you mean "10.0.0.0/8"?');
    expect(validateObject(route({ dst: '192.0.2.1/32' }))).toEqual([]);
  });

  it('needs an egress port of this router for nextHop "port"', () => {
    expectIssue(validateObject(route({ egressPortId: undefined })), 'route rt1: egressPortId is missing; a route with nextHop "port" needs its egress port');
    expectIssue(validateObject(route({ egressPortId: 'p9' }), view()), 'egressPortId "p9" names no port');
    expectIssue(validateObject(route({ egressPortId: 'p2' }), view()), 'egressPortId "p2" is a port of router r2, not of router r1');
    expectIssue(validateObject(route({ egressPortId: 'bp1' }), view()), 'egressPortId "bp1" is a port of bridge b1, not of router r1');
    expect(validateObject(route({ nextHop: 'blackhole', egressPortId: undefined }), view())).toEqual([]);
    expect(validateObject(route({ nextHop: 'reject', egressPortId: undefined }), view())).toEqual([]);
  });

  it('refuses a gateway of the other address family, or not an address', () => {
    expectIssue(validateObject(route({ dst: '10.0.0.0/8', gateway: '2001:db8::1' })), 'gateway "2001:db8::1" is IPv6 but dst "10.0.0.0/8" is IPv4');
    expectIssue(validateObject(route({ dst: '2001:db8::/32', gateway: '10.0.0.1' })), 'gateway "10.0.0.1" is IPv4 but dst "2001:db8::/32" is IPv6');
    expectIssue(validateObject(route({ gateway: 'router.example' })), 'gateway "router.example" is not a valid IP address');
  });

  it('refuses a negative weight', () => {
    expectIssue(validateObject(route({ weight: -1 })), 'route rt1: weight -1 is negative');
    expect(validateObject(route({ weight: 0 }))).toEqual([]);
  });

  it('refuses a route of a missing router and unknown enum values', () => {
    expectIssue(validateObject(route({ routerId: 'r9' }), view()), 'routerId "r9" names no router');
    expectIssue(validateObject(route({ nextHop: 'gateway' as Route['nextHop'] })), 'nextHop "gateway" is not one of port, blackhole, reject');
    expectIssue(validateObject(route({ origin: 'ospf' as Route['origin'] })), 'origin "ospf" is not one of static, bgp');
  });

  it('accepts advertise on static routes of any next hop', () => {
    expect(validateObject(route({ advertise: true }), view())).toEqual([]);
    expect(validateObject(route({ advertise: false, origin: 'bgp' }), view())).toEqual([]);
    expect(validateObject(route({ advertise: true, nextHop: 'blackhole', egressPortId: undefined }), view())).toEqual([]);
    expect(validateObject(route({ advertise: true, nextHop: 'reject', egressPortId: undefined, dst: '2001:db8::/32' }), view())).toEqual([]);
  });

  it('refuses advertise that is not a boolean, or set on a route learned over BGP', () => {
    expectIssue(validateObject(route({ advertise: 'yes' as unknown as boolean })), 'route rt1: advertise "yes" is not true or false');
    expectIssue(validateObject(route({ advertise: null as unknown as boolean })), 'advertise null is not true or false');
    expectIssue(
      validateObject(route({ advertise: true, origin: 'bgp' })),
      'route rt1: advertise is true on a route learned over BGP (origin "bgp"); only static routes are announced',
    );
  });
});

describe('port groups', () => {
  it('refuses missing and repeated ports', () => {
    const g = (portIds: string[]): TopologyObject => ({ type: 'portGroup', id: 'g1', stateful: true, portIds });
    expectIssue(validateObject(g(['p1', 'p9']), view()), 'port group g1: portIds[1] "p9" names no port');
    expectIssue(validateObject(g(['p1', 'p1']), view()), 'portIds[1] "p1" is listed twice');
    expect(validateObject(g(['p1', 'p2']), view())).toEqual([]);
  });
});

describe('whole topology', () => {
  it('reports an id used twice for one type, but allows one id across types', () => {
    const issues = validateTopology([router('x'), router('x'), bridge('x')]);
    expect(messages(issues)).toEqual(['router x: id "x" is used by more than one router']);
  });

  it('reports an object of no known type', () => {
    const odd = { type: 'switch', id: 's1' } as unknown as TopologyObject;
    const issues = validateTopology([odd]);
    expect(messages(issues)).toEqual(['object s1: type "switch" is not one of bridge, router, port, chain, rule, portGroup, route']);
    expect(issues[0].objectType).toBe('unknown');
  });

  it('formats issues one per line', () => {
    const issues = validateObject(route({ weight: -1, dst: '192.0.2.1/24' }));
    expect(formatIssues(issues).split('\n')).toHaveLength(2);
  });

  it('never throws on malformed objects of any type', () => {
    const types = ['bridge', 'router', 'port', 'chain', 'portGroup', 'route', 'bogus', undefined] as const;
    const junk = fc.record(
      {
        type: fc.constantFrom(...types),
        id: fc.oneof(fc.string(), fc.integer()),
        deviceType: fc.constantFrom('bridge', 'router', 'x'),
        kind: fc.constantFrom('literal', 'jump', 'nat', 'reverseNat', 'staticNat', 'x'),
        peerId: fc.anything(),
        addresses: fc.anything(),
        arpEntries: fc.anything(),
        ruleIds: fc.anything(),
        portIds: fc.anything(),
        condition: fc.anything(),
        targets: fc.anything(),
        dst: fc.anything(),
        gateway: fc.anything(),
        mac: fc.anything(),
        mtu: fc.anything(),
        weight: fc.anything(),
        chainId: fc.anything(),
        routerId: fc.anything(),
        jumpChainId: fc.anything(),
        origin: fc.constantFrom('static', 'bgp', 'x'),
        advertise: fc.anything(),
      },
      { requiredKeys: ['type', 'id'] },
    );
    fc.assert(
      fc.property(fc.array(junk, { maxLength: 8 }), (objects) => {
        // Rules have no type key; keep some with "type": undefined as JSON tools may leave it.
        const objs = objects.map((o, i) => {
          if (o.type !== undefined || i % 2 === 0) return o;
          const { type: _t, ...rule } = o;
          return rule;
        }) as unknown as TopologyObject[];
        const all = validateTopology(objs);
        for (const o of objs) validateObject(o, new InMemoryTopology(objs));
        for (const i of all) expect(typeof i.message).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});
