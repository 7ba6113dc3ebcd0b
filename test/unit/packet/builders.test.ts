// The frames the router simulation originates: ARP, echo replies, ICMP/ICMPv6 errors (RFC 1812, RFC 4443
// limits and refusals), ND solicitation/advertisement; every one decodes and its checksums recompute.
import {
  type DecodeError, type DecodedFrame, DecodeLayer, DecodeReason, ETHERTYPE_ARP, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, MAC_BROADCAST,
  buildArpReply, buildArpRequest, buildIcmp4EchoReply, buildIcmp4Error, buildIcmp6EchoReply, buildIcmp6Error, buildNdAdvert,
  buildNdSolicit, decodeFrame, echoId, echoSeq, frameWithVlan, isDecodeError, isIcmpError, parseIp4, parseIp6,
} from '../../../src/agent-core/packet/index.js';
import { checksumMismatches, plain } from './reference.js';
import {
  IP6_A, IP6_B, IP_A, IP_B, MAC_A, MAC_B, echo4Frame, echo6Frame, ip4Frame, ip6Frame, tcp, tcp4Frame, tcp6Frame, udp4Frame,
  udp6Frame,
} from './samples.js';

function decoded(r: Uint8Array | DecodeError): DecodedFrame {
  if (isDecodeError(r)) throw new Error(`unexpected ${r.layer}/${r.reason}`);
  const d = decodeFrame(r);
  if (isDecodeError(d)) throw new Error(`built frame does not decode: ${d.layer}/${d.reason}`);
  expect(checksumMismatches(r)).toEqual([]);
  expect(d.vlans).toEqual([]);
  return d;
}

const ROUTER4 = parseIp4('10.0.0.254')!;
const ROUTER6 = parseIp6('2001:db8::fe')!;
const ROUTER_MAC = 0x02aabbccddee;

describe('ARP', () => {
  test('request: broadcast, sender addresses, target IP, empty target MAC', () => {
    const b = buildArpRequest(MAC_A, IP_A, IP_B);
    const d = decoded(b);
    expect(b.length).toBe(42);
    expect(d.eth).toEqual({ dst: MAC_BROADCAST, src: MAC_A, etherType: ETHERTYPE_ARP });
    expect(d.arp).toEqual({ op: 1, sha: MAC_A, spa: IP_A, tha: 0, tpa: IP_B });
  });

  test('reply: to the asker', () => {
    const d = decoded(buildArpReply(MAC_B, IP_B, MAC_A, IP_A));
    expect(d.eth).toEqual({ dst: MAC_A, src: MAC_B, etherType: ETHERTYPE_ARP });
    expect(d.arp).toEqual({ op: 2, sha: MAC_B, spa: IP_B, tha: MAC_A, tpa: IP_A });
  });
});

describe('echo replies', () => {
  test('ICMPv4: addresses swapped, id, sequence and data kept, untagged even for a tagged request', () => {
    const req = frameWithVlan(echo4Frame(), 30) as Uint8Array;
    const d = decoded(buildIcmp4EchoReply(req, MAC_B, MAC_A));
    expect(d.eth).toMatchObject({ dst: MAC_A, src: MAC_B });
    expect(d.ip4).toMatchObject({ src: IP_B, dst: IP_A, ttl: 64, proto: IPPROTO_ICMP });
    expect(d.l4?.kind === 'icmp4' && [d.l4.type, d.l4.code, echoId(d.l4.rest), echoSeq(d.l4.rest), plain(d.l4.data)]).toEqual([0, 0, 0x4242, 7, [0xde, 0xad, 0xbe, 0xef]]);
  });

  test('ICMPv6: the same, and refused for a multicast destination', () => {
    const d = decoded(buildIcmp6EchoReply(echo6Frame(), MAC_B, MAC_A));
    expect(d.ip6).toMatchObject({ src: IP6_B, dst: IP6_A, hopLimit: 64, proto: IPPROTO_ICMPV6 });
    expect(d.l4?.kind === 'icmp6' && [d.l4.type, echoId(d.l4.rest), echoSeq(d.l4.rest), plain(d.l4.data)]).toEqual([129, 0x5151, 3, [1, 2, 3]]);
    expect(buildIcmp6EchoReply(echo6Frame({ dst: parseIp6('ff02::1')! }), MAC_B, MAC_A)).toMatchObject({ layer: DecodeLayer.Build, reason: DecodeReason.MulticastDestination });
  });

  test('refused for anything but a whole echo request', () => {
    expect(buildIcmp4EchoReply(tcp4Frame(), MAC_B, MAC_A)).toMatchObject({ layer: DecodeLayer.Build, reason: DecodeReason.NotEchoRequest });
    expect(buildIcmp4EchoReply(ip4Frame(IPPROTO_ICMP, { kind: 'icmp4', type: 0, code: 0, rest: 0, data: new Uint8Array(0) }), MAC_B, MAC_A)).toMatchObject({ reason: DecodeReason.NotEchoRequest });
    expect(buildIcmp4EchoReply(echo4Frame({ mf: true }), MAC_B, MAC_A)).toMatchObject({ reason: DecodeReason.Fragment });
    expect(buildIcmp6EchoReply(echo6Frame({}, 129), MAC_B, MAC_A)).toMatchObject({ reason: DecodeReason.NotEchoRequest });
    expect(buildIcmp4EchoReply(new Uint8Array(10), MAC_B, MAC_A)).toMatchObject({ layer: DecodeLayer.Ethernet, reason: DecodeReason.Truncated });
  });
});

describe('ICMPv4 errors', () => {
  test('embed the whole of a small datagram, to its source, TTL 64', () => {
    const orig = frameWithVlan(udp4Frame(), 4) as Uint8Array;
    const d = decoded(buildIcmp4Error(orig, 11, 0, ROUTER4, ROUTER_MAC, MAC_A));
    expect(d.eth).toMatchObject({ dst: MAC_A, src: ROUTER_MAC });
    expect(d.ip4).toMatchObject({ src: ROUTER4, dst: IP_A, ttl: 64, proto: IPPROTO_ICMP, tos: 0xc0 });
    expect(d.l4?.kind === 'icmp4' && [d.l4.type, d.l4.code, d.l4.rest]).toEqual([11, 0, 0]);
    expect(d.l4?.kind === 'icmp4' && plain(d.l4.data)).toEqual(plain(orig.subarray(18)));
  });

  test('cut a large datagram so the error is 576 bytes; the next-hop MTU for fragmentation needed', () => {
    const orig = ip4Frame(6, tcp(new Uint8Array(1400).fill(9)), { options: new Uint8Array([1, 1, 1, 1, 1, 1, 1, 0]) });
    const b = buildIcmp4Error(orig, 3, 4, ROUTER4, ROUTER_MAC, MAC_A, 1400) as Uint8Array;
    const d = decoded(b);
    expect(d.ip4!.totalLength).toBe(576);
    expect(d.l4?.kind === 'icmp4' && d.l4.rest).toBe(1400);
    expect(d.l4?.kind === 'icmp4' && plain(d.l4.data)).toEqual(plain(orig.subarray(14, 14 + 548)));
    const other = decoded(buildIcmp4Error(orig, 3, 1, ROUTER4, ROUTER_MAC, MAC_A, 1400));
    expect(other.l4?.kind === 'icmp4' && other.l4.rest).toBe(0);
  });

  test.each([
    ['about an ICMP error', buildIcmp4Error(udp4Frame(), 3, 3, 1 << 24, MAC_B, MAC_A) as Uint8Array, DecodeReason.AboutIcmpError],
    ['about a non-first fragment', tcp4Frame({ fragOffset: 100 }), DecodeReason.NonFirstFragment],
    ['about a datagram to a multicast group', udp4Frame({ dst: parseIp4('224.0.0.5')! }), DecodeReason.MulticastDestination],
    ['about a datagram to the limited broadcast', udp4Frame({ dst: 0xffffffff }), DecodeReason.MulticastDestination],
    ['about a link-layer broadcast', udp4Frame({ ethDst: MAC_BROADCAST }), DecodeReason.MulticastDestination],
    ['to 0.0.0.0', udp4Frame({ src: 0 }), DecodeReason.BadSource],
    ['to loopback', udp4Frame({ src: parseIp4('127.0.0.1')! }), DecodeReason.BadSource],
    ['to a class E source', udp4Frame({ src: parseIp4('240.0.0.1')! }), DecodeReason.BadSource],
    ['about ARP', buildArpRequest(MAC_A, IP_A, IP_B), DecodeReason.NotIp],
  ])('refused %s (RFC 1812 4.3.2.7)', (_n, orig, reason) => {
    expect(buildIcmp4Error(orig, 3, 1, ROUTER4, ROUTER_MAC, MAC_A)).toMatchObject({ kind: 'decodeError', layer: DecodeLayer.Build, reason });
  });

  test('an error about an echo request is allowed (informational, not an error)', () => {
    expect(isDecodeError(buildIcmp4Error(echo4Frame(), 3, 1, ROUTER4, ROUTER_MAC, MAC_A))).toBe(false);
  });
});

describe('ICMPv6 errors', () => {
  test('embed as much as fits in 1280 bytes; MTU in packet too big', () => {
    const orig = tcp6Frame();
    const big = ip6Frame(6, tcp(new Uint8Array(1400).fill(1)));
    const d = decoded(buildIcmp6Error(big, 2, 0, ROUTER6, ROUTER_MAC, MAC_A, 1280));
    expect(14 + 40 + d.ip6!.payloadLength).toBe(14 + 1280);
    expect(d.ip6).toMatchObject({ src: ROUTER6, dst: IP6_A, hopLimit: 64 });
    expect(d.l4?.kind === 'icmp6' && [d.l4.type, d.l4.rest]).toEqual([2, 1280]);
    expect(d.l4?.kind === 'icmp6' && plain(d.l4.data)).toEqual(plain(big.subarray(14, 14 + 1232)));
    const small = decoded(buildIcmp6Error(orig, 3, 0, ROUTER6, ROUTER_MAC, MAC_A));
    expect(small.l4?.kind === 'icmp6' && plain(small.l4.data)).toEqual(plain(orig.subarray(14)));
  });

  test('a multicast destination refuses unreachable but allows packet too big', () => {
    const mc = udp6Frame({ dst: parseIp6('ff0e::1')!, ethDst: 0x333300000001 });
    expect(buildIcmp6Error(mc, 1, 4, ROUTER6, ROUTER_MAC, MAC_A)).toMatchObject({ reason: DecodeReason.MulticastDestination });
    expect(isDecodeError(buildIcmp6Error(mc, 2, 0, ROUTER6, ROUTER_MAC, MAC_A, 1300))).toBe(false);
    expect(isDecodeError(buildIcmp6Error(mc, 4, 2, ROUTER6, ROUTER_MAC, MAC_A))).toBe(false);
  });

  test.each([
    ['about an ICMPv6 error', ip6Frame(58, { kind: 'icmp6', type: 1, code: 0, rest: 0, data: new Uint8Array(8) }), DecodeReason.AboutIcmpError],
    ['about a redirect', ip6Frame(58, { kind: 'icmp6', type: 137, code: 0, rest: 0, data: new Uint8Array(32) }), DecodeReason.AboutIcmpError],
    ['to the unspecified address', udp6Frame({ src: 0n }), DecodeReason.BadSource],
    ['to a multicast source', udp6Frame({ src: parseIp6('ff02::2')! }), DecodeReason.BadSource],
    ['about a link-layer multicast', udp6Frame({ ethDst: 0x333300000001 }), DecodeReason.MulticastDestination],
    ['about IPv4', udp4Frame(), DecodeReason.NotIp],
  ])('refused %s (RFC 4443 2.4(e))', (_n, orig, reason) => {
    expect(buildIcmp6Error(orig, 1, 3, ROUTER6, ROUTER_MAC, MAC_A)).toMatchObject({ kind: 'decodeError', layer: DecodeLayer.Build, reason });
  });
});

describe('neighbour discovery', () => {
  test('solicitation: solicited-node group and its 33:33 MAC, hop limit 255, source link-layer option', () => {
    const target = parseIp6('2001:db8::abcd:1234')!;
    const b = buildNdSolicit(ROUTER_MAC, ROUTER6, target);
    const d = decoded(b);
    expect(d.eth).toEqual({ dst: 0x3333ffcd1234, src: ROUTER_MAC, etherType: ETHERTYPE_IPV6 });
    expect(d.ip6).toMatchObject({ src: ROUTER6, dst: parseIp6('ff02::1:ffcd:1234'), hopLimit: 255 });
    expect(d.l4?.kind === 'icmp6' && d.l4.nd).toMatchObject({ target, sourceLinkAddr: ROUTER_MAC });
    expect(d.l4?.kind === 'icmp6' && d.l4.nd?.targetLinkAddr).toBeUndefined();
    const dad = decoded(buildNdSolicit(ROUTER_MAC, 0n, target));
    expect(dad.l4?.kind === 'icmp6' && dad.l4.nd?.options.length).toBe(0);
  });

  test('advertisement: flags, target as source, target link-layer option', () => {
    const d = decoded(buildNdAdvert(ROUTER_MAC, ROUTER6, MAC_A, IP6_A, { router: true, solicited: true, override: false }));
    expect(d.eth).toMatchObject({ dst: MAC_A, src: ROUTER_MAC });
    expect(d.ip6).toMatchObject({ src: ROUTER6, dst: IP6_A, hopLimit: 255 });
    expect(d.l4?.kind === 'icmp6' && d.l4.nd).toMatchObject({ target: ROUTER6, router: true, solicited: true, override: false, targetLinkAddr: ROUTER_MAC });
    const o = decoded(buildNdAdvert(ROUTER_MAC, ROUTER6, MAC_A, IP6_A, { router: false, solicited: false, override: true }));
    expect(o.l4?.kind === 'icmp6' && [o.l4.nd?.router, o.l4.nd?.solicited, o.l4.nd?.override]).toEqual([false, false, true]);
  });
});

test('isIcmpError', () => {
  expect([0, 3, 4, 5, 8, 11, 12, 13].map((t) => isIcmpError(t, false))).toEqual([false, true, true, true, false, true, true, false]);
  expect([1, 2, 3, 4, 127, 128, 129, 135, 136].map((t) => isIcmpError(t, true))).toEqual([true, true, true, true, true, false, false, false, false]);
});
