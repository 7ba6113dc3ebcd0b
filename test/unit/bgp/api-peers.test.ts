// Peers in gobgpd's API (src/bgp/api-peers.ts) and the peer plan (src/bgp/peer-plan.ts): what a
// configured peer becomes, which changes need a new session, and the difference on reload.
import { canonicalAddress, globalToApi, peerStatusFromApi, peerToApi, planPeers, type ApiPeer, type BgpPeerConfig } from '../../../src/bgp/index.js';

const LOCAL = 4_200_000_000;
const base: BgpPeerConfig = { address: '192.0.2.2', asn: 65001, families: ['ipv4'], uplink: 'up0', uplinkPortId: 'p1' };

test('a peer becomes an API peer with explicit defaults, MD5, multihop and families', () => {
  expect(peerToApi({ ...base, password: 's3cret', multihop: { ttl: 4 }, families: ['ipv4', 'ipv6'] }, LOCAL)).toEqual({
    conf: { neighbor_address: '192.0.2.2', peer_asn: 65001, local_asn: LOCAL, type: 'EXTERNAL', auth_password: 's3cret' },
    transport: { local_address: '0.0.0.0', passive_mode: false },
    ebgp_multihop: { enabled: true, multihop_ttl: 4 },
    timers: { config: { hold_time: 90, keepalive_interval: 30, connect_retry: 5 } },
    afi_safis: [
      { config: { family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, enabled: true } },
      { config: { family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' }, enabled: true } },
    ],
  });
  const ibgp6 = peerToApi({ ...base, address: '2001:db8::2', asn: LOCAL, families: ['ipv6'], holdTime: 9, keepalive: 3 }, LOCAL);
  expect(ibgp6.conf?.type).toBe('INTERNAL');
  expect(ibgp6.transport?.local_address).toBe('::');
  expect(ibgp6.timers?.config).toEqual({ hold_time: 9, keepalive_interval: 3, connect_retry: 5 });
});

test("only a 'restart' limit is gobgpd's; 'drop' and 'warn' are the importer's", () => {
  const restart = peerToApi({ ...base, maxPrefixes: { limit: 100, action: 'restart' } }, LOCAL);
  expect(restart.afi_safis?.[0]?.prefix_limits).toEqual({ family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, max_prefixes: 100, shutdown_threshold_pct: 0 });
  for (const action of ['drop', 'warn'] as const) expect(peerToApi({ ...base, maxPrefixes: { limit: 100, action } }, LOCAL).afi_safis?.[0]?.prefix_limits).toBeUndefined();
});

test('the global section maps to StartBgp with port 179 by default', () => {
  expect(globalToApi({ asn: LOCAL, routerId: '192.0.2.1' })).toEqual({ asn: LOCAL, router_id: '192.0.2.1', listen_port: 179, listen_addresses: [], use_multiple_paths: false });
  expect(globalToApi({ asn: 1, routerId: '192.0.2.1', listenPort: -1, multipath: true }).use_multiple_paths).toBe(true);
});

function installed(...peers: BgpPeerConfig[]): Map<string, BgpPeerConfig> {
  return new Map(peers.map((p) => [canonicalAddress(p.address), p]));
}

test('the plan sorts changes by what they cost', () => {
  const a = base;
  const b = { ...base, address: '192.0.2.3' };
  const c = { ...base, address: '2001:db8::3', families: ['ipv6'] as const };
  const d = { ...base, address: '192.0.2.4' };
  const plan = planPeers(
    installed(a, b, c, d),
    [
      { ...a, holdTime: 30 }, // timers: in place
      { ...b, password: 'new' }, // MD5: new session
      { ...c, address: '2001:DB8:0::3', uplinkPortId: 'p2' }, // same peer; import side only
      { ...base, address: '192.0.2.9' }, // new
    ],
    LOCAL,
  );
  expect(plan.tune.map((p) => p.address)).toEqual(['192.0.2.2']);
  expect(plan.replace.map((p) => p.address)).toEqual(['192.0.2.3']);
  expect(plan.unchanged.map((p) => p.address)).toEqual(['2001:DB8:0::3']);
  expect(plan.add.map((p) => p.address)).toEqual(['192.0.2.9']);
  expect(plan.remove.map((p) => p.address)).toEqual(['192.0.2.4']);
});

test.each<[string, Partial<BgpPeerConfig>, 'replace' | 'tune' | 'unchanged']>([
  ['ASN', { asn: 65002 }, 'replace'],
  ['families', { families: ['ipv4', 'ipv6'] }, 'replace'],
  ['multihop', { multihop: { ttl: 2 } }, 'replace'],
  ['local address', { localAddress: '192.0.2.1' }, 'replace'],
  ['keepalive', { keepalive: 10 }, 'tune'],
  ['connect retry', { connectRetry: 9 }, 'tune'],
  ['restart limit', { maxPrefixes: { limit: 5, action: 'restart' } }, 'tune'],
  ['drop limit', { maxPrefixes: { limit: 5, action: 'drop' } }, 'unchanged'],
  ['uplink name', { uplink: 'up1' }, 'unchanged'],
])('changing %s is %s', (_what, change, kind) => {
  const plan = planPeers(installed(base), [{ ...base, ...change }], LOCAL);
  expect(plan[kind]).toHaveLength(1);
});

test('peer status reads session state, uptime and per-family counts', () => {
  const api: ApiPeer = {
    conf: { neighbor_address: '192.0.2.2', peer_asn: 65001 },
    state: { neighbor_address: '192.0.2.2', peer_asn: 65001, session_state: 'ESTABLISHED', admin_state: 'UP', flops: 2 },
    timers: { state: { uptime: { seconds: 1000, nanos: 0 } } },
    afi_safis: [{ state: { family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, enabled: true, received: 7, accepted: 6, advertised: 1 } }],
  };
  expect(peerStatusFromApi(api, 1_060_500)).toEqual({
    address: '192.0.2.2',
    asn: 65001,
    state: 'established',
    adminState: 'up',
    uptimeSeconds: 60,
    flaps: 2,
    families: [{ family: 'ipv4', received: 7, accepted: 6, advertised: 1 }],
  });
  const down = peerStatusFromApi({ ...api, state: { ...api.state!, session_state: 'IDLE', admin_state: 'PFX_CT' } }, 0);
  expect([down.state, down.adminState, down.uptimeSeconds]).toEqual(['idle', 'prefix-limit', undefined]);
});
