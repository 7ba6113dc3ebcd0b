// An uplink's control traffic (src/agent-core/agent/control-steering.ts): BGP to the uplink's own
// addresses is the kernel's (gobgpd's macvlan), ARP/ND and everything else are simulated with a
// mask that can never cover a frame that is the kernel's.
import fc from 'fast-check';
import {
  buildArpRequest, buildNdSolicit, extractFlowKey, FIELD_OFFSET, Field, fieldBit, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS,
  parseIp4, parseIp6, type FieldMask,
} from '../../../src/agent-core/packet/index.js';
import { BGP_TCP_PORT, steerUplinkFrame, type ControlSteering } from '../../../src/agent-core/agent/control-steering.js';
import { echo4, ip4Frame, ip6Frame, tcp, udp } from '../packet/samples.js';

const UPLINK_V4 = parseIp4('192.0.2.2')!;
const UPLINK_V6 = parseIp6('2001:db8:ff::2')!;
const PEER_V4 = parseIp4('192.0.2.1')!;
const OTHER_V4 = parseIp4('203.0.113.10')!;
const CP: ControlSteering = { uplinkPortId: 'uplink-a', addresses: [UPLINK_V4, UPLINK_V6], tcpPorts: [BGP_TCP_PORT] };

function keyOf(frame: Uint8Array): Float64Array {
  const key = new Float64Array(KEY_WORDS);
  if (!extractFlowKey(frame, 3, 0, key)) throw new Error('frame did not parse');
  return key;
}

const tcpTo = (dst: number, srcPort: number, dstPort: number): Uint8Array => ip4Frame(IPPROTO_TCP, { ...tcp(), srcPort, dstPort }, { src: PEER_V4, dst });

/** Whether a flow installed for `installed` with `mask` would also match `other`. */
function covers(installed: Float64Array, mask: FieldMask, other: Float64Array): boolean {
  for (let f = 0; f < 20; f++) {
    if ((mask & fieldBit(f as Field)) === 0) continue;
    const off = FIELD_OFFSET[f]!;
    const width = f === Field.IpSrc || f === Field.IpDst || f === Field.NdTarget ? 4 : 1;
    for (let w = 0; w < width; w++) if (installed[off + w] !== other[off + w]) return false;
  }
  return true;
}

describe('steerUplinkFrame', () => {
  it('leaves BGP to the uplink address, either direction, to the kernel', () => {
    const toPeer = steerUplinkFrame(keyOf(tcpTo(UPLINK_V4, 51000, 179)), CP);
    expect(toPeer.kind).toBe('kernel');
    const reply = steerUplinkFrame(keyOf(tcpTo(UPLINK_V4, 179, 51000)), CP);
    expect(reply.kind).toBe('kernel');
    const v6 = steerUplinkFrame(keyOf(ip6Frame(IPPROTO_TCP, { ...tcp(), srcPort: 40000, dstPort: 179 }, { dst: UPLINK_V6 })), CP);
    expect(v6.kind).toBe('kernel');
  });

  it('does not steer BGP to other addresses, other TCP ports to the uplink, or UDP 179', () => {
    expect(steerUplinkFrame(keyOf(tcpTo(OTHER_V4, 51000, 179)), CP).kind).toBe('simulate');
    expect(steerUplinkFrame(keyOf(tcpTo(UPLINK_V4, 51000, 22)), CP).kind).toBe('simulate');
    expect(steerUplinkFrame(keyOf(ip4Frame(IPPROTO_UDP, { ...udp(), srcPort: 179, dstPort: 179 }, { dst: UPLINK_V4 })), CP).kind).toBe('simulate');
    expect(steerUplinkFrame(keyOf(ip4Frame(1, echo4(), { dst: UPLINK_V4 })), CP).kind).toBe('simulate');
  });

  it('simulates ARP and neighbour discovery (the router answers them; the kernel gets its own copies)', () => {
    expect(steerUplinkFrame(keyOf(buildArpRequest(0x0c0000000001, PEER_V4, UPLINK_V4)), CP).kind).toBe('simulate');
    expect(steerUplinkFrame(keyOf(buildNdSolicit(0x0c0000000001, parseIp6('2001:db8:ff::1')!, UPLINK_V6)), CP).kind).toBe('simulate');
  });

  it('a flow installed for any simulated frame never covers a steered one', () => {
    const port = fc.oneof(fc.constant(179), fc.integer({ min: 1, max: 65535 }));
    const dst = fc.constantFrom(UPLINK_V4, OTHER_V4, PEER_V4);
    const frame = fc.record({ dst, sport: port, dport: port, proto: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP) }).map((f) =>
      keyOf(f.proto === IPPROTO_TCP ? tcpTo(f.dst, f.sport, f.dport) : ip4Frame(IPPROTO_UDP, { ...udp(), srcPort: f.sport, dstPort: f.dport }, { dst: f.dst })));
    // The narrowest mask the simulation itself may read from an uplink: the in-port alone.
    fc.assert(
      fc.property(frame, frame, (a, b) => {
        const sa = steerUplinkFrame(a, CP);
        const sb = steerUplinkFrame(b, CP);
        if (sa.kind === 'simulate' && sb.kind === 'kernel') return !covers(a, fieldBit(Field.InPort) | sa.extraMask, b);
        if (sa.kind === 'kernel' && sb.kind === 'simulate') return !covers(a, sa.mask, b);
        return true;
      }),
      { numRuns: 3000 },
    );
  });
});
