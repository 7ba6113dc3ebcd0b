// Parsed forms: correct values, memoized per object identity, recomputed for a new object.
import fc from 'fast-check';
import { formatIp4, parseIp, parseIp4, parseMac } from '../../../src/agent-core/packet/index.js';
import {
  bridgeArpLookup,
  bridgeArpTable,
  natTargets,
  parsedCondition,
  parsedRoute,
  portAddressOnLink,
  portCidrs,
  portMac,
  portMtu,
  portOwnsIp,
  routeDst,
  staticNatAddress,
  type Route,
  type Rule,
} from '../../../src/agent-core/topology/index.js';
import { bridge, bridgePort, routerPort } from './helpers.js';

const ip = (s: string) => parseIp(s)!;

describe('ports', () => {
  it('parses addresses once per port object', () => {
    const p = routerPort({ addresses: ['10.0.0.1/24', '2001:db8::1/64', 'junk'] });
    const cidrs = portCidrs(p);
    expect(cidrs).toEqual([
      { addr: ip('10.0.0.1'), len: 24 },
      { addr: ip('2001:db8::1'), len: 64 },
    ]);
    expect(portCidrs(p)).toBe(cidrs);
    const copy = { ...p };
    expect(portCidrs(copy)).not.toBe(cidrs);
    expect(portCidrs(copy)).toEqual(cidrs);
    expect(portCidrs(bridgePort())).toEqual([]);
  });

  it('parses the MAC and defaults the MTU', () => {
    expect(portMac(routerPort({ mac: '02:00:00:00:00:2a' }))).toBe(0x02000000002a);
    expect(portMac(bridgePort())).toBeUndefined();
    expect(portMtu(routerPort())).toBe(1500);
    expect(portMtu(routerPort({ mtu: 9000 }))).toBe(9000);
  });

  it('knows its own addresses and its address on the link toward an IP', () => {
    const p = routerPort({ addresses: ['10.0.0.1/24', '2001:db8::1/64'] });
    expect(portOwnsIp(p, ip('10.0.0.1'))).toBe(true);
    expect(portOwnsIp(p, ip('10.0.0.2'))).toBe(false);
    expect(portAddressOnLink(p, ip('10.0.0.77'))).toBe(ip('10.0.0.1'));
    expect(portAddressOnLink(p, ip('2001:db8::99'))).toBe(ip('2001:db8::1'));
    expect(portAddressOnLink(p, ip('10.0.1.77'))).toBeUndefined();
  });

  it('finds the on-link address for any host of the subnet', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (a, b) => {
        const p = routerPort({ addresses: [`10.${a}.0.1/16`] });
        const inside = parseIp4(`10.${a}.${b}.9`)!;
        const outside = parseIp4(`10.${(a + 1) % 256}.${b}.9`)!;
        expect(formatIp4(portAddressOnLink(p, inside) as number)).toBe(`10.${a}.0.1`);
        expect(portAddressOnLink(p, outside)).toBeUndefined();
      }),
    );
  });
});

describe('bridge ARP entries', () => {
  it('keeps IPv4 and IPv6 keys apart and memoizes the table', () => {
    const b = bridge('b1', {
      arpEntries: [
        { ip: '10.0.0.5', mac: '02:00:00:00:00:05' },
        { ip: '::a00:5', mac: '02:00:00:00:00:06' },
        { ip: 'bad', mac: '02:00:00:00:00:07' },
      ],
    });
    expect(bridgeArpLookup(b, ip('10.0.0.5'))).toBe(parseMac('02:00:00:00:00:05'));
    expect(bridgeArpLookup(b, ip('::a00:5'))).toBe(parseMac('02:00:00:00:00:06'));
    expect(bridgeArpLookup(b, ip('10.0.0.6'))).toBeUndefined();
    expect(bridgeArpTable(b).size).toBe(2);
    expect(bridgeArpTable(b)).toBe(bridgeArpTable(b));
  });
});

describe('routes', () => {
  const route = (over: Partial<Route>): Route => ({ type: 'route', id: 'r', routerId: 'r1', dst: '10.0.0.0/8', nextHop: 'blackhole', weight: 0, origin: 'static', ...over });

  it('parses dst, src and gateway, memoized', () => {
    const r = route({ src: '192.0.2.0/24', gateway: '10.0.0.1' });
    const parsed = parsedRoute(r);
    expect(parsed).toEqual({ dst: { addr: ip('10.0.0.0'), len: 8 }, src: { addr: ip('192.0.2.0'), len: 24 }, gateway: ip('10.0.0.1') });
    expect(parsedRoute(r)).toBe(parsed);
    expect(routeDst(r)).toBe(parsed?.dst);
    expect(parsedRoute(route({}))).toEqual({ dst: { addr: ip('10.0.0.0'), len: 8 } });
  });

  it('answers undefined for a route whose text does not parse (memoized too)', () => {
    const bad = route({ gateway: 'nope' });
    expect(parsedRoute(bad)).toBeUndefined();
    expect(parsedRoute(bad)).toBeUndefined();
    expect(routeDst(route({ dst: '10.0.0.0' }))).toBeUndefined();
  });
});

describe('rules', () => {
  it('parses condition addresses and port sets, flagging text that does not parse', () => {
    const c = { nwSrc: { value: '10.0.0.0/8' }, ethDst: { value: '02:00:00:00:00:01' }, inPorts: { value: ['p1', 'p2'] } };
    const parsed = parsedCondition(c);
    expect(parsed.valid).toBe(true);
    expect(parsed.nwSrc).toEqual({ addr: ip('10.0.0.0'), len: 8 });
    expect(parsed.ethDst).toBe(2 * 2 ** 40 + 1);
    expect(parsed.inPorts?.has('p2')).toBe(true);
    expect(parsed.outPorts).toBeUndefined();
    expect(parsedCondition(c)).toBe(parsed);
    expect(parsedCondition({ nwDst: { value: '10.0.0.0/33' } }).valid).toBe(false);
  });

  it('parses NAT targets and static NAT addresses', () => {
    const nat: Rule = {
      id: 'n',
      chainId: 'c',
      condition: {},
      kind: 'nat',
      nat: 'snat',
      then: 'accept',
      targets: [
        { addressFrom: '203.0.113.1', addressTo: '203.0.113.9', portFrom: 1024, portTo: 2047 },
        { addressFrom: '203.0.113.1', addressTo: '2001:db8::1', portFrom: 1, portTo: 2 },
      ],
    };
    expect(natTargets(nat)).toEqual([{ addressFrom: ip('203.0.113.1'), addressTo: ip('203.0.113.9'), portFrom: 1024, portTo: 2047 }]);
    expect(natTargets(nat)).toBe(natTargets(nat));
    const fip: Rule = { id: 's', chainId: 'c', condition: {}, kind: 'staticNat', nat: 'dnat', address: '10.0.0.5', then: 'accept' };
    expect(staticNatAddress(fip)).toBe(ip('10.0.0.5'));
    expect(staticNatAddress(nat)).toBeUndefined();
    expect(natTargets(fip)).toEqual([]);
  });
});
