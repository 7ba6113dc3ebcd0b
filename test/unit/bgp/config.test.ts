// Validation of the BGP settings (src/bgp/config.ts): every bad field is named, good configs pass.
import { BgpConfigError, validateBgpConfig, type BgpConfig, type BgpPeerConfig } from '../../../src/bgp/index.js';

const peer: BgpPeerConfig = { address: '192.0.2.2', asn: 65001, families: ['ipv4'], uplink: 'up0', uplinkPortId: 'port-1' };
const good: BgpConfig = { global: { asn: 4_200_000_000, routerId: '192.0.2.1' }, peers: [peer] };

function errorOf(cfg: unknown): BgpConfigError {
  try {
    validateBgpConfig(cfg as BgpConfig);
  } catch (err) {
    if (err instanceof BgpConfigError) return err;
    throw err;
  }
  throw new Error('expected a BgpConfigError');
}

test('a complete config with 4-byte ASNs, MD5, multihop, IPv6 and limits passes', () => {
  const cfg: BgpConfig = {
    global: { asn: 4_294_967_295, routerId: '192.0.2.1', listenPort: -1, multipath: true, listenAddresses: ['192.0.2.1', '2001:db8::1'] },
    peers: [
      { ...peer, password: 'x'.repeat(80), holdTime: 30, keepalive: 10, multihop: { ttl: 3 }, maxPrefixes: { limit: 1000, action: 'restart', restartAfterSeconds: 5 } },
      { ...peer, address: '2001:db8::2', localAddress: '2001:db8::1', families: ['ipv6', 'ipv4'], holdTime: 0, keepalive: 0, maxPrefixes: { limit: 10, action: 'drop' } },
    ],
  };
  expect(validateBgpConfig(cfg)).toBe(cfg);
  expect(Object.isFrozen(cfg)).toBe(true);
});

test.each<[string, unknown, string]>([
  ['global ASN 0', { ...good, global: { ...good.global, asn: 0 } }, 'global.asn'],
  ['global ASN above 32 bits', { ...good, global: { ...good.global, asn: 2 ** 32 } }, 'global.asn'],
  ['AS_TRANS', { ...good, global: { ...good.global, asn: 23456 } }, 'global.asn'],
  ['router id not IPv4', { ...good, global: { ...good.global, routerId: '2001:db8::1' } }, 'global.routerId'],
  ['router id 0.0.0.0', { ...good, global: { ...good.global, routerId: '0.0.0.0' } }, 'global.routerId'],
  ['listen port 0', { ...good, global: { ...good.global, listenPort: 0 } }, 'global.listenPort'],
  ['listen address', { ...good, global: { ...good.global, listenAddresses: ['nope'] } }, 'global.listenAddresses[0]'],
  ['peers not a list', { ...good, peers: {} }, 'peers'],
  ['peer address', { ...good, peers: [{ ...peer, address: '192.0.2.300' }] }, 'peers[0].address'],
  ['peer ASN fractional', { ...good, peers: [{ ...peer, asn: 1.5 }] }, 'peers[0].asn'],
  ['empty password', { ...good, peers: [{ ...peer, password: '' }] }, 'peers[0].password'],
  ['password over 80 bytes', { ...good, peers: [{ ...peer, password: 'é'.repeat(41) }] }, 'peers[0].password'],
  ['hold time 2', { ...good, peers: [{ ...peer, holdTime: 2 }] }, 'peers[0].holdTime'],
  ['keepalive not below hold', { ...good, peers: [{ ...peer, holdTime: 9, keepalive: 9 }] }, 'peers[0].keepalive'],
  ['keepalive with hold 0', { ...good, peers: [{ ...peer, holdTime: 0, keepalive: 3 }] }, 'peers[0].keepalive'],
  ['multihop ttl 0', { ...good, peers: [{ ...peer, multihop: { ttl: 0 } }] }, 'peers[0].multihop.ttl'],
  ['no families', { ...good, peers: [{ ...peer, families: [] }] }, 'peers[0].families'],
  ['unknown family', { ...good, peers: [{ ...peer, families: ['ipv4', 'vpnv4'] }] }, 'peers[0].families[1]'],
  ['family twice', { ...good, peers: [{ ...peer, families: ['ipv4', 'ipv4'] }] }, 'peers[0].families[1]'],
  ['limit 0', { ...good, peers: [{ ...peer, maxPrefixes: { limit: 0, action: 'warn' } }] }, 'peers[0].maxPrefixes.limit'],
  ['limit action', { ...good, peers: [{ ...peer, maxPrefixes: { limit: 5, action: 'shutdown' } }] }, 'peers[0].maxPrefixes.action'],
  ['restart delay without restart', { ...good, peers: [{ ...peer, maxPrefixes: { limit: 5, action: 'drop', restartAfterSeconds: 5 } }] }, 'peers[0].maxPrefixes.restartAfterSeconds'],
  ['local address of the other family', { ...good, peers: [{ ...peer, localAddress: '2001:db8::1' }] }, 'peers[0].localAddress'],
  ['no uplink', { ...good, peers: [{ ...peer, uplink: '' }] }, 'peers[0].uplink'],
  ['no uplink port', { ...good, peers: [{ ...peer, uplinkPortId: undefined }] }, 'peers[0].uplinkPortId'],
  ['same peer twice, spelled differently', { ...good, peers: [{ ...peer, address: '2001:db8::2' }, { ...peer, address: '2001:DB8:0::2' }] }, 'peers[1].address'],
])('%s is refused naming %s', (_what, cfg, field) => {
  const err = errorOf(cfg);
  expect(err.field).toBe(field);
  expect(err.message).toMatch(new RegExp(`^bgp: ${field.replace(/[[\].]/g, '\\$&')}: `));
});
