// The corpus of known-bad inputs: each malformed frame with the DecodeError layer, reason and offset
// decodeFrame must report; flowMatchFromFrame reports the same and extractFlowKey returns false.
import {
  DecodeLayer as L, DecodeReason as R, FRAG_NONE, IPPROTO_ICMPV6, IPPROTO_TCP, KEY_WORDS, buildArpRequest, ND_NEIGHBOR_SOLICIT,
  decodeFrame, decodeTcpOptions, decodeVxlan, encodeVxlan, extractFlowKey, flowMatchFromFrame, isDecodeError,
  ndLinkAddrOption,
} from '../../../src/agent-core/packet/index.js';
import {
  MAC_A, echo4Frame, fragHdr, hex, hopByHop, ip6Frame, nsFrame, patched, tcp, tcp4Frame, tcp6Frame, udp4Frame, udp6Frame,
} from './samples.js';

interface BadCase {
  readonly name: string;
  readonly frame: Uint8Array;
  readonly layer: string;
  readonly reason: string;
  readonly offset: number;
}

const E = 14; // an untagged frame's L3 offset
const T4 = E + 20; // L4 offset behind an option-less IPv4 header
const T6 = E + 40;
const arp = buildArpRequest(MAC_A, 0x0a000001, 0x0a000002);
const sll = ndLinkAddrOption(1, MAC_A);

const corpus: readonly BadCase[] = [
  { name: 'empty frame', frame: new Uint8Array(0), layer: L.Ethernet, reason: R.Truncated, offset: 0 },
  { name: '13-byte frame', frame: new Uint8Array(13), layer: L.Ethernet, reason: R.Truncated, offset: 0 },
  { name: 'VLAN tag cut after its TPID', frame: hex('ffffffffffff 020000000001 8100 00'), layer: L.Vlan, reason: R.Truncated, offset: 12 },
  { name: 'second stacked tag cut short', frame: hex('ffffffffffff 020000000001 88a8 0064 8100 00c8'), layer: L.Vlan, reason: R.Truncated, offset: 16 },
  { name: 'ARP one byte short', frame: arp.subarray(0, 41), layer: L.Arp, reason: R.Truncated, offset: E },
  { name: 'ARP for a non-Ethernet hardware type', frame: patched(arp, (b) => { b[E + 1] = 6; }), layer: L.Arp, reason: R.Unsupported, offset: E },
  { name: 'ARP with 16-byte protocol addresses', frame: patched(arp, (b) => { b[E + 5] = 16; }), layer: L.Arp, reason: R.Unsupported, offset: E },
  { name: 'IPv4 header cut at 19 bytes', frame: tcp4Frame().subarray(0, E + 19), layer: L.Ipv4, reason: R.Truncated, offset: E },
  { name: 'IPv4 ethertype carrying version 6', frame: patched(tcp4Frame(), (b) => { b[E] = 0x65; }), layer: L.Ipv4, reason: R.BadVersion, offset: E },
  { name: 'IPv4 IHL 4', frame: patched(tcp4Frame(), (b) => { b[E] = 0x44; }), layer: L.Ipv4, reason: R.BadHeaderLength, offset: E },
  { name: 'IPv4 IHL 0', frame: patched(tcp4Frame(), (b) => { b[E] = 0x40; }), layer: L.Ipv4, reason: R.BadHeaderLength, offset: E },
  { name: 'IPv4 total length below the header', frame: patched(tcp4Frame(), (b) => { b[E + 2] = 0; b[E + 3] = 19; }), layer: L.Ipv4, reason: R.BadLength, offset: E + 2 },
  { name: 'IPv4 total length past the frame', frame: patched(tcp4Frame(), (b) => { b[E + 2] = 0x05; b[E + 3] = 0xdc; }), layer: L.Ipv4, reason: R.BadLength, offset: E + 2 },
  { name: 'IPv4 IHL 15 past the total length', frame: patched(udp4Frame(), (b) => { b[E] = 0x4f; }), layer: L.Ipv4, reason: R.BadLength, offset: E + 2 },
  { name: 'TCP header cut at 10 bytes', frame: patched(tcp4Frame().subarray(0, T4 + 10), (b) => { b[E + 3] = 30; }), layer: L.Tcp, reason: R.Truncated, offset: T4 },
  { name: 'TCP data offset 0', frame: patched(tcp4Frame(), (b) => { b[T4 + 12] = 0x00; }), layer: L.Tcp, reason: R.BadHeaderLength, offset: T4 + 12 },
  { name: 'TCP data offset 4', frame: patched(tcp4Frame(), (b) => { b[T4 + 12] = 0x40; }), layer: L.Tcp, reason: R.BadHeaderLength, offset: T4 + 12 },
  { name: 'TCP data offset past the segment', frame: patched(tcp4Frame(), (b) => { b[T4 + 12] = 0xf0; }), layer: L.Tcp, reason: R.Truncated, offset: T4 + 12 },
  { name: 'TCP in a first fragment too short for its header', frame: patched(tcp4Frame({ mf: true }).subarray(0, T4 + 16), (b) => { b[E + 3] = 36; }), layer: L.Tcp, reason: R.Truncated, offset: T4 },
  { name: 'UDP header cut at 6 bytes', frame: patched(udp4Frame().subarray(0, T4 + 6), (b) => { b[E + 3] = 26; }), layer: L.Udp, reason: R.Truncated, offset: T4 },
  { name: 'UDP length 4', frame: patched(udp4Frame(), (b) => { b[T4 + 5] = 4; }), layer: L.Udp, reason: R.BadLength, offset: T4 + 4 },
  { name: 'UDP length past the IP payload', frame: patched(udp4Frame(), (b) => { b[T4 + 5] = 200; }), layer: L.Udp, reason: R.BadLength, offset: T4 + 4 },
  { name: 'ICMP message of 4 bytes', frame: patched(echo4Frame().subarray(0, T4 + 4), (b) => { b[E + 3] = 24; }), layer: L.Icmp, reason: R.Truncated, offset: T4 },
  { name: 'IPv6 header cut at 39 bytes', frame: tcp6Frame().subarray(0, E + 39), layer: L.Ipv6, reason: R.Truncated, offset: E },
  { name: 'IPv6 ethertype carrying version 4', frame: patched(tcp6Frame(), (b) => { b[E] = 0x45; }), layer: L.Ipv6, reason: R.BadVersion, offset: E },
  { name: 'IPv6 payload length past the frame', frame: patched(tcp6Frame(), (b) => { b[E + 4] = 0x10; }), layer: L.Ipv6, reason: R.BadLength, offset: E + 4 },
  { name: 'IPv6 hop-by-hop length past the payload', frame: patched(tcp6Frame({ ext: [hopByHop()] }), (b) => { b[T6 + 1] = 9; }), layer: L.Ipv6, reason: R.Truncated, offset: T6 },
  { name: 'IPv6 chain ending in a cut-short header', frame: patched(udp6Frame({ ext: [hopByHop()] }), (b) => { b[T6] = 60; b[E + 4] = 0; b[E + 5] = 9; }).subarray(0, T6 + 9), layer: L.Ipv6, reason: R.Truncated, offset: T6 + 8 },
  { name: 'IPv6 payload length 0 before a hop-by-hop header', frame: patched(tcp6Frame({ ext: [hopByHop()] }), (b) => { b[E + 4] = 0; b[E + 5] = 0; }), layer: L.Ipv6, reason: R.Truncated, offset: T6 },
  { name: 'IPv6 fragment header cut short', frame: patched(tcp6Frame({ ext: [fragHdr(0, true)] }), (b) => { b[E + 4] = 0; b[E + 5] = 4; }).subarray(0, T6 + 4), layer: L.Ipv6, reason: R.Truncated, offset: T6 },
  { name: 'IPv6 AH length past the payload', frame: patched(tcp6Frame({ ext: [{ kind: 'options', type: 51, data: new Uint8Array(10) }] }), (b) => { b[T6 + 1] = 200; }), layer: L.Ipv6, reason: R.Truncated, offset: T6 },
  { name: 'TCP behind IPv6 extension headers, data offset 0', frame: patched(ip6Frame(IPPROTO_TCP, tcp(), { ext: [hopByHop(), fragHdr(0, false)] }), (b) => { b[T6 + 16 + 12] = 0; }), layer: L.Tcp, reason: R.BadHeaderLength, offset: T6 + 16 + 12 },
  { name: 'ICMPv6 message of 7 bytes', frame: ip6Frame(IPPROTO_ICMPV6, { kind: 'raw', data: new Uint8Array([128, 0, 0, 0, 0, 0, 0]) }), layer: L.Icmp6, reason: R.Truncated, offset: T6 },
  { name: 'neighbour solicitation without its target', frame: ip6Frame(IPPROTO_ICMPV6, { kind: 'raw', data: new Uint8Array([ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]) }), layer: L.Nd, reason: R.Truncated, offset: T6 },
  { name: 'ND option of length 0', frame: patched(nsFrame(1n, [sll]), (b) => { b[T6 + 25] = 0; }), layer: L.Nd, reason: R.BadOption, offset: T6 + 24 },
  { name: 'ND option running past the message', frame: patched(nsFrame(1n, [sll]), (b) => { b[T6 + 25] = 2; }), layer: L.Nd, reason: R.BadOption, offset: T6 + 24 },
  { name: 'ND option area with one stray byte', frame: ip6Frame(IPPROTO_ICMPV6, { kind: 'icmp6', type: ND_NEIGHBOR_SOLICIT, code: 0, rest: 0, data: new Uint8Array(17) }), layer: L.Nd, reason: R.BadOption, offset: T6 + 24 },
  { name: 'ND with two source link-layer options', frame: nsFrame(1n, [sll, sll]), layer: L.Nd, reason: R.DuplicateOption, offset: T6 + 32 },
];

const key = new Float64Array(KEY_WORDS);

describe('known-bad frames', () => {
  test.each(corpus.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const d = decodeFrame(c.frame);
    expect(d).toEqual({ kind: 'decodeError', layer: c.layer, reason: c.reason, offset: c.offset });
    expect(flowMatchFromFrame(c.frame, 1)).toEqual(d);
    expect(extractFlowKey(c.frame, 1, 0, key)).toBe(false);
  });

  test('the corpus frames are one corruption away from valid ones', () => {
    for (const f of [arp, tcp4Frame(), udp4Frame(), echo4Frame(), tcp6Frame({ ext: [hopByHop()] }), nsFrame(1n, [sll])]) {
      expect(isDecodeError(decodeFrame(f))).toBe(false);
      expect(extractFlowKey(f, 1, 0, key)).toBe(true);
    }
  });
});

describe('checksums: flagged by default, rejected on request', () => {
  const cases = [
    { name: 'IPv4 header', frame: patched(tcp4Frame(), (b) => { b[E + 10] ^= 1; }), layer: L.Ipv4, offset: E + 10 },
    { name: 'TCP', frame: patched(tcp4Frame(), (b) => { b[T4 + 16] ^= 1; }), layer: L.Tcp, offset: T4 },
    { name: 'UDP over IPv6', frame: patched(udp6Frame(), (b) => { b[b.length - 1] ^= 0x80; }), layer: L.Udp, offset: T6 },
    { name: 'ICMP', frame: patched(echo4Frame(), (b) => { b[b.length - 1] ^= 0x80; }), layer: L.Icmp, offset: T4 },
  ];
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const d = decodeFrame(c.frame);
    if (isDecodeError(d)) throw new Error('a bad checksum alone must decode');
    const status = c.layer === L.Ipv4 ? d.ip4!.checksumStatus : d.l4!.kind === 'raw' ? 'raw' : d.l4!.checksumStatus;
    expect(status).toBe('bad');
    expect(decodeFrame(c.frame, { rejectBadChecksums: true })).toEqual({ kind: 'decodeError', layer: c.layer, reason: R.BadChecksum, offset: c.offset });
    // The flow key does not look at checksums (the datapath forwards what the simulation decided).
    expect(extractFlowKey(c.frame, 1, 0, key)).toBe(true);
  });

  test('a UDP checksum of 0 over IPv4 is absent, not bad', () => {
    const f = patched(udp4Frame(), (b) => { b[T4 + 6] = 0; b[T4 + 7] = 0; });
    const d = decodeFrame(f, { rejectBadChecksums: true });
    expect(!isDecodeError(d) && d.l4?.kind === 'udp' && d.l4.checksumStatus).toBe('absent');
  });

  test('a first fragment is not verifiable', () => {
    const d = decodeFrame(patched(tcp4Frame({ mf: true }), (b) => { b[T4 + 16] ^= 1; }), { rejectBadChecksums: true });
    expect(!isDecodeError(d) && d.l4?.kind === 'tcp' && d.l4.checksumStatus).toBe('unverifiable');
    expect(!isDecodeError(d) && d.ip4!.frag).not.toBe(FRAG_NONE);
  });
});

describe('other codecs', () => {
  test('VXLAN without the I flag, and cut short', () => {
    expect(decodeVxlan(patched(encodeVxlan(5, new Uint8Array(14)), (b) => { b[0] = 0; }))).toEqual({ kind: 'decodeError', layer: L.Vxlan, reason: R.BadFlags, offset: 0 });
    expect(decodeVxlan(new Uint8Array(7))).toEqual({ kind: 'decodeError', layer: L.Vxlan, reason: R.Truncated, offset: 0 });
  });

  test('TCP options: a length below 2 or past the end', () => {
    expect(decodeTcpOptions(new Uint8Array([1, 2, 1, 0]))).toMatchObject({ layer: L.Tcp, reason: R.BadOption, offset: 1 });
    expect(decodeTcpOptions(new Uint8Array([2, 6, 1, 1]))).toMatchObject({ layer: L.Tcp, reason: R.BadOption, offset: 0 });
    expect(decodeTcpOptions(new Uint8Array([1, 1, 1, 3]))).toMatchObject({ layer: L.Tcp, reason: R.BadOption, offset: 3 });
  });
});
