// Router ICMP errors: TTL / hop limit expiry, no route, fragmentation needed / packet too big, the
// rules for not sending one, and the loop guard between routers routing to each other.
import {
  ETHERTYPE_IPV4,
  ICMP6_DST_UNREACH,
  ICMP6_DST_UNREACH_NOROUTE,
  ICMP6_PACKET_TOO_BIG,
  ICMP6_TIME_EXCEEDED,
  ICMP_DEST_UNREACH,
  ICMP_FRAG_NEEDED,
  ICMP_NET_UNREACH,
  ICMP_TIME_EXCEEDED,
  IPPROTO_ICMP,
  IPPROTO_UDP,
  decodeIp4,
  encodeFrame,
  parseIcmpErrorInner,
  isDecodeError,
  type Icmp4Fields,
} from '../../../src/agent-core/packet/index.js';
import { MAX_DEVICES_TRAVERSED } from '../../../src/agent-core/simulation/context.js';
import { World, decode, execute, ip, ip4, ip6, mac, outputs, udp } from './sim-test-kit.js';
import { MAC_UP, UP_PEER, fromUplink, routed } from './router-fixtures.js';

/** The IPv4 header quoted in an ICMP error (its data starts with the original datagram). */
function quoted4(frame: Uint8Array) {
  const d = decode(frame);
  const data = (d.l4 as Icmp4Fields).data;
  const q = decodeIp4(data, 0, data.length, false);
  if (isDecodeError(q)) throw new Error('quoted header does not decode');
  return q.header;
}

describe('router: TTL', () => {
  it('answers time exceeded out of the ingress port, quoting the original header, for TTL 1', () => {
    const w = routed();
    const r = w.run(fromUplink({ dst: '10.1.2.5', ttl: 1 }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.installFlow).toBe(false);
    expect(r.actions).toEqual([]);
    expect(r.generated).toHaveLength(1);
    expect(r.generated[0].egressPortId).toBe('rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_UP, dst: UP_PEER });
    expect(d.ip4).toMatchObject({ src: ip4('192.0.2.1'), dst: ip4('192.0.2.99') });
    expect(d.l4).toMatchObject({ type: ICMP_TIME_EXCEEDED, code: 0 });
    expect(quoted4(r.generated[0].frame)).toMatchObject({ src: ip4('192.0.2.99'), dst: ip4('10.1.2.5'), ttl: 1, proto: IPPROTO_UDP });
  });

  it('forwards TTL 2 (it leaves with TTL 1)', () => {
    const w = routed();
    const frame = fromUplink({ dst: '10.1.2.5', ttl: 2 });
    const r = w.run(frame, 'rp-up');
    expect(decode(execute(frame, r.actions)[0].frame).ip4?.ttl).toBe(1);
  });

  it('answers ICMPv6 time exceeded for hop limit 1', () => {
    const w = routed();
    const r = w.run(fromUplink({ dst: '2001:db8:100:5::9', ttl: 1 }), 'rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8:f::1'), dst: ip6('2001:db8:f::99') });
    expect(d.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_TIME_EXCEEDED, code: 0 });
  });

  it('expires at the second router of a walk, quoting the packet as the first router rewrote it', () => {
    const w = twoRouters();
    const frame = udp({ srcMac: UP_PEER, dstMac: mac('02:00:00:00:01:01'), src: '192.0.2.99', dst: '10.9.0.5', ttl: 2 });
    const r = w.run(frame, 'r1-up');
    expect(r.generated).toHaveLength(1);
    // Sent by r2 out of its port towards r1, from r2's address on that link.
    expect(r.generated[0].egressPortId).toBe('r2-link');
    const d = decode(r.generated[0].frame);
    expect(d.ip4).toMatchObject({ src: ip4('169.254.0.2'), dst: ip4('192.0.2.99') });
    expect(d.eth).toMatchObject({ src: mac('02:00:00:00:02:01'), dst: mac('02:00:00:00:01:02') });
    expect(quoted4(r.generated[0].frame)).toMatchObject({ ttl: 1, dst: ip4('10.9.0.5') });
  });
});

describe('router: unreachable', () => {
  it('answers net unreachable when no route matches (IPv4) and no route (IPv6)', () => {
    const w = routed({ withDefault: false });
    const r = w.run(fromUplink({ dst: '8.8.8.8' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.expiry).toBe('drop');
    expect(decode(r.generated[0].frame).l4).toMatchObject({ type: ICMP_DEST_UNREACH, code: ICMP_NET_UNREACH });
    expect(quoted4(r.generated[0].frame)).toMatchObject({ dst: ip4('8.8.8.8') });
    const r6 = w.run(fromUplink({ dst: '2001:db8:999::1' }), 'rp-up');
    expect(decode(r6.generated[0].frame).l4).toMatchObject({ type: ICMP6_DST_UNREACH, code: ICMP6_DST_UNREACH_NOROUTE });
  });

  it('sends no error about an ICMP error, nor to a broadcast source', () => {
    const w = routed({ withDefault: false });
    const err = encodeFrame({
      eth: { dst: MAC_UP, src: UP_PEER, etherType: ETHERTYPE_IPV4 },
      ip4: { tos: 0, id: 1, df: false, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_ICMP, src: ip4('192.0.2.99'), dst: ip4('8.8.8.8'), options: new Uint8Array(0) },
      l4: { kind: 'icmp4', type: ICMP_DEST_UNREACH, code: ICMP_NET_UNREACH, rest: 0, data: new Uint8Array(28) },
    });
    const r = w.run(err, 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.generated).toEqual([]);
    const fromBroadcast = w.run(fromUplink({ src: '255.255.255.255', dst: '8.8.8.8' }), 'rp-up');
    expect(fromBroadcast.generated).toEqual([]);
  });
});

describe('router: MTU', () => {
  it('answers fragmentation needed with the egress MTU for an IPv4 packet with DF', () => {
    const w = routed({ mtuB: 1400 });
    const big = fromUplink({ dst: '10.1.2.5', df: true, payload: 1450 });
    const r = w.run(big, 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.installFlow).toBe(false);
    // Back out of the ingress port, from its address to the sender, quoting the datagram as sent.
    expect(r.generated[0].egressPortId).toBe('rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_UP, dst: UP_PEER });
    expect(d.ip4).toMatchObject({ src: ip4('192.0.2.1'), dst: ip4('192.0.2.99') });
    expect(d.l4).toMatchObject({ type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED, rest: 1400 });
    // The quote is cut to fit 576 bytes (RFC 1812 4.3.2.3) but keeps the datagram's own total length.
    const quote = (d.l4 as Icmp4Fields).data;
    expect(d.ip4!.totalLength).toBe(576);
    expect((quote[2] << 8) | quote[3]).toBe(20 + 8 + 1450);
    expect(parseIcmpErrorInner(r.generated[0].frame)).toMatchObject({ ipSrc: ip4('192.0.2.99'), ipDst: ip4('10.1.2.5'), l4Src: 40000, l4Dst: 53 });
    const fits = w.run(fromUplink({ dst: '10.1.2.5', df: true, payload: 1300 }), 'rp-up');
    expect(outputs(fits)).toEqual(['rp-b']);
    expect(fits.maxIpLength).toBe(1400);
  });

  it('forwards an oversized IPv4 packet without DF unfragmented', () => {
    const w = routed({ mtuB: 1400 });
    const r = w.run(fromUplink({ dst: '10.1.2.5', df: false, payload: 1450 }), 'rp-up');
    expect(outputs(r)).toEqual(['rp-b']);
  });

  it('answers packet too big for IPv6', () => {
    const w = routed({ mtuB: 1400 });
    const r = w.run(fromUplink({ dst: '2001:db8:100:5::9', payload: 1400 }), 'rp-up');
    expect(r.installFlow).toBe(false);
    expect(r.generated[0].egressPortId).toBe('rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_UP, dst: UP_PEER });
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8:f::1'), dst: ip6('2001:db8:f::99') });
    expect(d.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_PACKET_TOO_BIG, rest: 1400 });
    expect(parseIcmpErrorInner(r.generated[0].frame)).toMatchObject({
      ipSrc: ip6('2001:db8:f::99'), ipDst: ip6('2001:db8:100:5::9'), proto: IPPROTO_UDP, l4Src: 40000, l4Dst: 53,
    });
    // RFC 8201: as much of the packet as fits in the minimum MTU.
    expect(d.ip6!.payloadLength + 40).toBe(1280);
  });
});

describe('router: loop guard', () => {
  it('drops as an error when two routers route a prefix to each other', () => {
    const w = twoRouters();
    w.topo.putAll([
      { type: 'route', id: 'loop1', routerId: 'r1', dst: '10.77.0.0/16', nextHop: 'port', egressPortId: 'r1-link', gateway: '169.254.0.2', weight: 0, origin: 'static' },
      { type: 'route', id: 'loop2', routerId: 'r2', dst: '10.77.0.0/16', nextHop: 'port', egressPortId: 'r2-link', gateway: '169.254.0.1', weight: 0, origin: 'static' },
    ]);
    const r = w.run(udp({ srcMac: UP_PEER, dstMac: mac('02:00:00:00:01:01'), src: '192.0.2.99', dst: '10.77.0.5' }), 'r1-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true, reason: expect.stringContaining('loop') });
    expect(r.actions).toEqual([]);
    expect(r.expiry).toBe('drop');
    expect(r.installFlow).toBe(true);
    expect(r.trace.filter((l) => l.startsWith('port ') && l.endsWith(': in'))).toHaveLength(MAX_DEVICES_TRAVERSED);
  });
});

/** r1 (uplink r1-up) linked to r2 over 169.254.0.0/30; r2 routes 10.9.0.0/16 out of r2-ext. */
function twoRouters(): World {
  const w = new World();
  const b = w.b;
  b.router({ id: 'r1' });
  b.router({ id: 'r2' });
  b.uplink('r1', '192.0.2.1/24', 'gw1', 'eth1', { id: 'r1-up', mac: '02:00:00:00:01:01' });
  b.routerPort('r1', '169.254.0.1/30', { id: 'r1-link', mac: '02:00:00:00:01:02' });
  b.routerPort('r2', '169.254.0.2/30', { id: 'r2-link', mac: '02:00:00:00:02:01' });
  b.link('r1-link', 'r2-link');
  b.routerPort('r2', '10.9.0.1/16', { id: 'r2-ext', mac: '02:00:00:00:02:02', hostId: 'h', interfaceName: 'x' });
  b.route('r1', '10.9.0.0/16', { egressPort: 'r1-link', gateway: '169.254.0.2' });
  b.route('r2', '192.0.2.0/24', { egressPort: 'r2-link', gateway: '169.254.0.1' });
  w.done();
  w.setArp('r1', ip('169.254.0.2'), mac('02:00:00:00:02:01'));
  w.setArp('r2', ip('169.254.0.1'), mac('02:00:00:00:01:02'));
  w.setArp('r2', ip('10.9.0.5'), mac('0a:00:00:00:09:05'));
  return w;
}
