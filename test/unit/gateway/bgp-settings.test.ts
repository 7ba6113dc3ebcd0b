// The BGP role's settings from the agent's YAML (src/gateway/bgp/bgp-settings.ts), and the names of
// gobgpd's control links (src/gateway/bgp/bgp-namespace.ts).
import { parseConfigText } from '../../../src/gateway/config/index.js';
import { bgpRoleConfigOf, peeringUplinks, uplinkAddresses } from '../../../src/gateway/bgp/bgp-settings.js';
import { controlFirewall, controlInterfaceOf, multihopRoutes } from '../../../src/gateway/bgp/bgp-namespace.js';
import { validateBgpConfig } from '../../../src/bgp/index.js';
import { formatIp } from '../../../src/agent-core/packet/index.js';
import { BASE, FILE, yamlLines } from '../config/helpers.js';

function load(...lines: string[]) {
  const r = parseConfigText(yamlLines(...BASE, ...lines), FILE);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.config;
}

const UPLINKS = [
  'bgp: { asn: 4200000001, routerId: 192.0.2.2 }',
  'uplinks:',
  '  - name: up-a',
  '    interface: eth1',
  '    router: provider',
  '    port: { id: uplink-a, address: [192.0.2.2/28, "2001:db8:ff::2/64"], mac: "02:00:00:00:01:0a" }',
  '    peers:',
  '      - { address: 192.0.2.1, asn: 64496, password: s3cret, holdTime: 9, maxPrefixes: { limit: 1000, action: restart } }',
  '      - { address: "2001:db8:ff::1", asn: 64496, families: [ipv6] }',
  '      - { address: 198.51.100.9, asn: 64497, multihop: 2 }',
  '  - name: up-b',
  '    interface: eth2',
  '    router: provider',
  '    port: { id: uplink-b, address: 198.51.100.2/28, mac: "02:00:00:00:01:0b" }',
];

describe('bgpRoleConfigOf', () => {
  it('is undefined without a bgp section', () => {
    expect(bgpRoleConfigOf(load())).toBeUndefined();
  });

  it('maps every uplink peer with its uplink, port, timers, password, multihop, limit and local address', () => {
    const config = load(...UPLINKS);
    const role = bgpRoleConfigOf(config)!;
    expect(() => validateBgpConfig(role)).not.toThrow();
    expect(role.global).toEqual({ asn: 4200000001, routerId: '192.0.2.2', listenPort: 179 });
    expect(role.peers).toEqual([
      {
        address: '192.0.2.1', asn: 64496, password: 's3cret', holdTime: 9, keepalive: 3, families: ['ipv4'],
        maxPrefixes: { limit: 1000, action: 'restart' }, localAddress: '192.0.2.2', uplink: 'up-a', uplinkPortId: 'uplink-a',
      },
      { address: '2001:db8:ff::1', asn: 64496, holdTime: 90, keepalive: 30, families: ['ipv6'], localAddress: '2001:db8:ff::2', uplink: 'up-a', uplinkPortId: 'uplink-a' },
      { address: '198.51.100.9', asn: 64497, holdTime: 90, keepalive: 30, multihop: { ttl: 2 }, families: ['ipv4'], localAddress: '192.0.2.2', uplink: 'up-a', uplinkPortId: 'uplink-a' },
    ]);
    expect(peeringUplinks(config).map((u) => u.name)).toEqual(['up-a']);
    expect(uplinkAddresses(config.uplinks[0]!).map(formatIp)).toEqual(['192.0.2.2', '2001:db8:ff::2']);
  });
});

describe('controlInterfaceOf', () => {
  it('gives interface names of at most 15 bytes, stable, distinct per namespace, host and uplink', () => {
    const a = controlInterfaceOf('ns', 'gw-a', 'uplink-a');
    expect(a).toBe(controlInterfaceOf('ns', 'gw-a', 'uplink-a'));
    expect(a.length).toBeLessThanOrEqual(15);
    expect(controlInterfaceOf('ns', 'gw-b', 'uplink-a')).not.toBe(a);
    expect(controlInterfaceOf('ns', 'gw-a', 'uplink-b')).not.toBe(a);
    expect(controlInterfaceOf('ns2', 'gw-a', 'uplink-a')).not.toBe(a);
  });
});

describe('controlFirewall', () => {
  it('lets BGP on the given ports and neighbour discovery through, and drops everything else both ways', () => {
    const rules = controlFirewall([179, 1179, 179]);
    expect(rules).toContain('tcp dport { 179, 1179 } accept');
    expect(rules).toContain('tcp sport { 179, 1179 } accept');
    expect(rules.match(/policy drop;/g)).toHaveLength(2);
    expect(rules).toContain('icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept');
  });
});

describe('multihopRoutes', () => {
  it('routes a multihop peer through an on-link peer of its family on the same uplink', () => {
    const config = load(...UPLINKS);
    expect(multihopRoutes(config.uplinks[0]!)).toEqual([{ dst: '198.51.100.9/32', via: '192.0.2.1' }]);
    expect(multihopRoutes(config.uplinks[1]!)).toEqual([]);
  });
});
