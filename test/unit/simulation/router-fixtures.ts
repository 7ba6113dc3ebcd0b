// Shared router fixtures: router r1 with an uplink, two exterior ports and a LAN bridge, plus its
// next hops' MACs, for the router tests.
import { World, ip, mac, udp } from './sim-test-kit.js';

export const UP_PEER = mac('0c:00:00:00:00:fe');
export const GW_A = mac('0c:00:00:00:00:0a');
export const GW_B = mac('0c:00:00:00:00:0b');
export const MAC_UP = mac('02:00:00:00:00:10');
export const MAC_A = mac('02:00:00:00:00:11');
export const MAC_B = mac('02:00:00:00:00:12');
export const MAC_LAN = mac('02:00:00:00:00:13');

/**
 * Router r1: uplink rp-up (192.0.2.1/24, 2001:db8:f::1/64), exterior rp-a and rp-b, and rp-lan to
 * bridge b1 (VM port p1). 10.1.0.0/16 via a, 10.1.2.0/24 via b, default via the uplink.
 */
export function routed(opts: { withDefault?: boolean; mtuB?: number; arp?: boolean } = {}): World {
  const w = new World();
  const b = w.b;
  b.router({ id: 'r1' });
  b.uplink('r1', ['192.0.2.1/24', '2001:db8:f::1/64'], 'gw1', 'eth1', { id: 'rp-up', mac: '02:00:00:00:00:10' });
  b.routerPort('r1', ['198.51.100.1/24', '2001:db8:a::1/64'], { id: 'rp-a', mac: '02:00:00:00:00:11', hostId: 'h', interfaceName: 'a' });
  b.routerPort('r1', ['203.0.113.1/24', '2001:db8:b::1/64'], {
    id: 'rp-b', mac: '02:00:00:00:00:12', hostId: 'h', interfaceName: 'b', ...(opts.mtuB !== undefined && { mtu: opts.mtuB }),
  });
  b.bridge({ id: 'b1' });
  b.vmPort('b1', 'h1', 'tap1', { id: 'p1' });
  b.connect('r1', 'b1', ['10.0.0.1/24', '2001:db8::1/64'], { id: 'rp-lan', mac: '02:00:00:00:00:13' });
  b.route('r1', '10.1.0.0/16', { id: 'to-a', egressPort: 'rp-a', gateway: '198.51.100.254' });
  b.route('r1', '10.1.2.0/24', { id: 'to-b', egressPort: 'rp-b', gateway: '203.0.113.254' });
  b.route('r1', '2001:db8:100::/48', { id: 'to-a6', egressPort: 'rp-a', gateway: '2001:db8:a::fe' });
  b.route('r1', '2001:db8:100:5::/64', { id: 'to-b6', egressPort: 'rp-b', gateway: '2001:db8:b::fe' });
  if (opts.withDefault ?? true) b.route('r1', '0.0.0.0/0', { id: 'default', egressPort: 'rp-up', gateway: '192.0.2.254' });
  w.done();
  if (opts.arp ?? true) {
    w.setArp('r1', ip('198.51.100.254'), GW_A);
    w.setArp('r1', ip('203.0.113.254'), GW_B);
    w.setArp('r1', ip('192.0.2.254'), UP_PEER);
    w.setArp('r1', ip('2001:db8:a::fe'), GW_A);
    w.setArp('r1', ip('2001:db8:b::fe'), GW_B);
  }
  return w;
}

/** A packet arriving on the uplink, addressed to the router's uplink MAC. */
export const fromUplink = (s: { src?: string; dst: string; ttl?: number; sport?: number; df?: boolean; payload?: number }) =>
  udp({ srcMac: UP_PEER, dstMac: MAC_UP, src: s.src ?? (s.dst.includes(':') ? '2001:db8:f::99' : '192.0.2.99'), ...s });
