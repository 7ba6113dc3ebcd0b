// Paths between the role and gobgpd's API (src/bgp/api-paths.ts): advertised paths for both
// families, and watched paths read back, including the ones the importer must skip.
import { advertisedPath, parseAdvertisedPrefix, readWatchedPath, type AdvertisedPrefix, type ApiPath } from '../../../src/bgp/index.js';

const T = 'type.googleapis.com/apipb.';

function parsed(text: string): AdvertisedPrefix {
  const p = parseAdvertisedPrefix(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

test('prefixes to advertise are canonicalized; host bits and garbage are refused', () => {
  expect(parsed('203.0.113.0/24')).toEqual({ prefix: '203.0.113.0/24', family: 'ipv4', addr: '203.0.113.0', len: 24 });
  expect(parsed('2001:DB8:0:0::/48')).toEqual({ prefix: '2001:db8::/48', family: 'ipv6', addr: '2001:db8::', len: 48 });
  expect(parseAdvertisedPrefix('203.0.113.1/24')).toMatch(/host bits/);
  expect(parseAdvertisedPrefix('203.0.113.0')).toMatch(/not a prefix/);
  expect(parseAdvertisedPrefix('203.0.113.0/33')).toMatch(/not a prefix/);
});

test('an IPv4 path carries NEXT_HOP, an IPv6 path MP_REACH_NLRI; unspecified next hops by default', () => {
  expect(advertisedPath(parsed('203.0.113.0/24'))).toEqual({
    family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
    nlri: { '@type': `${T}IPAddressPrefix`, prefix: '203.0.113.0', prefix_len: 24 },
    pattrs: [
      { '@type': `${T}OriginAttribute`, origin: 0 },
      { '@type': `${T}NextHopAttribute`, next_hop: '0.0.0.0' },
    ],
  });
  const v6 = advertisedPath(parsed('2001:db8:200::/48'), '2001:db8::1');
  expect(v6.family).toEqual({ afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });
  expect(v6.pattrs[1]).toEqual({
    '@type': `${T}MpReachNLRIAttribute`,
    family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
    next_hops: ['2001:db8::1'],
    nlris: [{ '@type': `${T}IPAddressPrefix`, prefix: '2001:db8:200::', prefix_len: 48 }],
  });
});

function watched(over: Partial<ApiPath>): ApiPath {
  return {
    family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
    nlri: { '@type': `${T}IPAddressPrefix`, prefix: '198.51.100.0', prefix_len: 25 },
    pattrs: [{ '@type': `${T}NextHopAttribute`, next_hop: '192.0.2.2' }],
    neighbor_ip: '192.0.2.2',
    ...over,
  };
}

test('watched paths give prefix, peer, next hop and withdrawal', () => {
  expect(readWatchedPath(watched({}))).toEqual({ family: 'ipv4', prefix: '198.51.100.0/25', withdraw: false, peer: '192.0.2.2', nextHop: '192.0.2.2' });
  expect(readWatchedPath(watched({ is_withdraw: true }))?.withdraw).toBe(true);
  // IPv6: the global next hop, not the link-local one BIRD sends along.
  const v6 = readWatchedPath(
    watched({
      family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
      nlri: { '@type': `${T}IPAddressPrefix`, prefix: '2001:db8:100::', prefix_len: 48 },
      pattrs: [{ '@type': `${T}MpReachNLRIAttribute`, next_hops: ['fe80::1', '2001:db8:5::2'] }],
      neighbor_ip: '2001:db8:5::2',
    }),
  );
  expect(v6).toEqual({ family: 'ipv6', prefix: '2001:db8:100::/48', withdraw: false, peer: '2001:db8:5::2', nextHop: '2001:db8:5::2' });
});

test('other families, other NLRI types and malformed NLRI are skipped', () => {
  expect(readWatchedPath(watched({ family: { afi: 'AFI_IP', safi: 'SAFI_MPLS_VPN' } }))).toBeUndefined();
  expect(readWatchedPath(watched({ family: { afi: 'AFI_L2VPN', safi: 'SAFI_UNICAST' } }))).toBeUndefined();
  expect(readWatchedPath(watched({ family: null }))).toBeUndefined();
  expect(readWatchedPath(watched({ nlri: { '@type': `${T}LabeledVPNIPAddressPrefix`, prefix: '10.0.0.0', prefix_len: 8 } }))).toBeUndefined();
  expect(readWatchedPath(watched({ nlri: { '@type': `${T}IPAddressPrefix`, prefix: 7 } }))).toBeUndefined();
  expect(readWatchedPath(watched({ nlri: null }))).toBeUndefined();
  expect(readWatchedPath(watched({ pattrs: [] }))?.nextHop).toBeUndefined();
});
