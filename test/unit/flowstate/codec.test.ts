// Round-trips of the flow-state codec (plain, tagged, inside VXLAN), the exact layout of a known
// message, encoder refusals, and authentication with the cluster key.
import fc from 'fast-check';
import {
  FLAG_TAG, FlowStateDecodeReason, FlowStateEncodeReason, MAX_ACK_SEQS, MAX_EGRESS_PORTS, MAX_ENTRIES_PER_MESSAGE,
  type StateMessage, TAG_LEN, createHmacAuthenticator, decodeDatagram, decodeMessage, encodeDatagram, encodeMessage,
  isFlowStateDecodeError, isFlowStateEncodeError,
} from '../../../src/agent-core/flowstate/index.js';
import { TUNNEL_KEY_FLOW_STATE, decodeVxlan, encodeVxlan, isDecodeError } from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';

const KEY = createHmacAuthenticator('cluster secret');
const OTHER_KEY = createHmacAuthenticator('another secret');

function bytes(x: Uint8Array | { kind: string }): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new Error(`encode failed: ${JSON.stringify(x)}`);
  return x;
}

const sample: StateMessage = {
  type: 'state', sender: 'h1', epoch: 0x01020304, seq: 7, ingressPortId: 'p', egressPortIds: ['e'],
  entries: [
    { kind: 'conntrack', key: 'k', lifetimeMs: 60000 },
    { kind: 'nat', key: 'n', binding: { ip: 0x0a000001, port: 443 }, deviceId: 'r', leasedIp: 0x0a000001, lifetimeMs: 1 },
  ],
};

describe('flow-state codec round-trip', () => {
  test('any message decodes to itself', () => {
    fc.assert(
      fc.property(A.message, (m) => {
        expect(decodeMessage(bytes(encodeMessage(m)))).toEqual(m);
      }),
      { numRuns: 2000 },
    );
  });

  test('any tagged message decodes to itself with the same key', () => {
    fc.assert(
      fc.property(A.message, (m) => {
        const b = bytes(encodeMessage(m, KEY));
        expect(b[6] & FLAG_TAG).toBe(FLAG_TAG);
        expect(decodeMessage(b, KEY)).toEqual(m);
        // Without a key configured the tag is skipped, not required.
        expect(decodeMessage(b)).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  test('inside a VXLAN frame with the flow-state key (RFC 7348 5)', () => {
    fc.assert(
      fc.property(A.message, fc.boolean(), (m, tagged) => {
        const auth = tagged ? KEY : undefined;
        const d = bytes(encodeDatagram(m, auth));
        const v = decodeVxlan(d);
        if (isDecodeError(v)) throw new Error('not vxlan');
        expect(v.header.vni).toBe(TUNNEL_KEY_FLOW_STATE);
        expect(v.inner).toEqual(bytes(encodeMessage(m, auth)));
        expect(decodeDatagram(d, auth)).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  test('the layout of a known message, byte for byte', () => {
    const b = bytes(encodeMessage(sample));
    // prettier-ignore
    const expected = [
      0x54, 0x47, 0x46, 0x53, 1, 1, 0, 0, 1, 2, 3, 4, // magic, version, STATE, flags, reserved, epoch
      2, 0x68, 0x31,                                  // sender "h1"
      0, 0, 0, 7,                                     // seq
      1, 0x70,                                        // ingress "p"
      1, 1, 0x65,                                     // one egress port "e"
      0, 2,                                           // two entries
      1, 0, 0, 0xea, 0x60, 0, 1, 0x6b,                // conntrack, 60000 ms, key "k"
      2, 0, 0, 0, 1, 0, 1, 0x6e,                      // nat, 1 ms, key "n"
      4, 10, 0, 0, 1, 0x01, 0xbb,                     // 10.0.0.1:443
      1, 0x72,                                        // device "r"
      4, 10, 0, 0, 1,                                 // leased 10.0.0.1
    ];
    expect([...b]).toEqual(expected);
  });

  test('without a key, the reserved byte and unknown flag bits are ignored (room for later versions)', () => {
    const b = bytes(encodeMessage(sample));
    b[6] |= 0xfe;
    b[7] = 0x5a;
    expect(decodeMessage(b)).toEqual(sample);
  });

  test('IPv6 bindings and no leased address', () => {
    const m: StateMessage = {
      ...sample,
      entries: [{ kind: 'nat', key: 'x', binding: { ip: (1n << 127n) | 5n, port: 0 }, deviceId: 'd', lifetimeMs: 0 }],
    };
    const d = decodeMessage(bytes(encodeMessage(m)));
    expect(d).toEqual(m);
    expect(d).not.toHaveProperty('entries.0.leasedIp');
  });

  test('limits are inclusive: the largest counts encode and decode', () => {
    const many: StateMessage = {
      ...sample,
      egressPortIds: Array.from({ length: MAX_EGRESS_PORTS }, (_, i) => `e${i}`),
      entries: Array.from({ length: MAX_ENTRIES_PER_MESSAGE }, (_, i) => ({ kind: 'conntrack' as const, key: `k${i}`, lifetimeMs: i })),
    };
    expect(decodeMessage(bytes(encodeMessage(many)))).toEqual(many);
    const ack = { type: 'ack' as const, sender: 'a', epoch: 1, ackedSender: 'b', ackedEpoch: 2, seqs: Array.from({ length: MAX_ACK_SEQS }, (_, i) => i) };
    expect(decodeMessage(bytes(encodeMessage(ack)))).toEqual(ack);
  });
});

describe('flow-state encoder refuses what it cannot carry', () => {
  const cases: [string, StateMessage | Parameters<typeof encodeMessage>[0], string, string][] = [
    ['empty sender', { ...sample, sender: '' }, FlowStateEncodeReason.BadString, 'sender'],
    ['sender over 255 bytes', { ...sample, sender: 'x'.repeat(256) }, FlowStateEncodeReason.BadString, 'sender'],
    ['lone surrogate', { ...sample, ingressPortId: 'a\ud800' }, FlowStateEncodeReason.BadString, 'ingressPortId'],
    ['negative seq', { ...sample, seq: -1 }, FlowStateEncodeReason.BadNumber, 'seq'],
    ['fractional epoch', { ...sample, epoch: 1.5 }, FlowStateEncodeReason.BadNumber, 'epoch'],
    ['too many egress ports', { ...sample, egressPortIds: Array.from({ length: MAX_EGRESS_PORTS + 1 }, () => 'e') }, FlowStateEncodeReason.TooManyEntries, 'egressPortIds'],
    ['too many entries', { ...sample, entries: Array.from({ length: MAX_ENTRIES_PER_MESSAGE + 1 }, () => sample.entries[0]) }, FlowStateEncodeReason.TooManyEntries, 'entries'],
    ['key over 512 bytes', { ...sample, entries: [{ kind: 'conntrack', key: 'k'.repeat(513), lifetimeMs: 0 }] }, FlowStateEncodeReason.BadString, 'entries[0].key'],
    ['port out of range', { ...sample, entries: [{ kind: 'nat', key: 'k', binding: { ip: 1, port: 65536 }, deviceId: 'd', lifetimeMs: 0 }] }, FlowStateEncodeReason.BadNumber, 'entries[0].binding.port'],
    ['IPv4 out of range', { ...sample, entries: [{ kind: 'nat', key: 'k', binding: { ip: 2 ** 32, port: 1 }, deviceId: 'd', lifetimeMs: 0 }] }, FlowStateEncodeReason.BadAddress, 'entries[0].binding.ip'],
    ['IPv6 out of range', { ...sample, entries: [{ kind: 'nat', key: 'k', binding: { ip: 1n << 128n, port: 1 }, deviceId: 'd', lifetimeMs: 0 }] }, FlowStateEncodeReason.BadAddress, 'entries[0].binding.ip'],
    ['negative lifetime', { ...sample, entries: [{ kind: 'conntrack', key: 'k', lifetimeMs: -5 }] }, FlowStateEncodeReason.BadNumber, 'entries[0].lifetimeMs'],
    ['too many acked seqs', { type: 'ack', sender: 'a', epoch: 0, ackedSender: 'b', ackedEpoch: 0, seqs: new Array<number>(MAX_ACK_SEQS + 1).fill(0) }, FlowStateEncodeReason.TooManyEntries, 'seqs'],
  ];
  test.each(cases)('%s', (_name, m, reason, field) => {
    const r = encodeMessage(m);
    expect(isFlowStateEncodeError(r)).toBe(true);
    expect(r).toMatchObject({ reason, field });
  });
});

describe('flow-state authentication', () => {
  test('a tag made with another key is refused', () => {
    fc.assert(
      fc.property(A.message, (m) => {
        expect(decodeMessage(bytes(encodeMessage(m, OTHER_KEY)), KEY)).toMatchObject({ reason: FlowStateDecodeReason.BadTag });
      }),
      { numRuns: 300 },
    );
  });

  test('an untagged message is refused when a key is configured', () => {
    expect(decodeMessage(bytes(encodeMessage(sample)), KEY)).toMatchObject({ reason: FlowStateDecodeReason.MissingTag });
  });

  test('any single bit flipped anywhere (reserved byte and flags included) is refused', () => {
    const b = bytes(encodeMessage(sample, KEY));
    for (let i = 0; i < b.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = b.slice();
        c[i] ^= 1 << bit;
        expect(isFlowStateDecodeError(decodeMessage(c, KEY))).toBe(true);
      }
    }
  });

  test('a tag cut short is refused, whatever its length', () => {
    const b = bytes(encodeMessage(sample, KEY));
    for (let cut = 1; cut <= TAG_LEN; cut++) {
      const r = decodeMessage(b.subarray(0, b.length - cut), KEY);
      expect(isFlowStateDecodeError(r)).toBe(true);
    }
  });

  test('the authenticator compares equal-length tags only and rejects others', () => {
    const data = new Uint8Array([1, 2, 3]);
    const tag = KEY.tag(data);
    expect(tag.length).toBe(TAG_LEN);
    expect(KEY.verify(data, tag)).toBe(true);
    expect(KEY.verify(data, tag.subarray(0, 15))).toBe(false);
    expect(KEY.verify(data, new Uint8Array(32))).toBe(false);
    expect(OTHER_KEY.verify(data, tag)).toBe(false);
    expect(() => createHmacAuthenticator('')).toThrow();
  });

  test('a message wrapped in VXLAN with another key (VNI) is refused', () => {
    const inner = bytes(encodeMessage(sample));
    expect(decodeDatagram(encodeVxlan(42, inner))).toMatchObject({ reason: FlowStateDecodeReason.WrongVni });
    const notVxlan = encodeVxlan(TUNNEL_KEY_FLOW_STATE, inner);
    notVxlan[0] = 0;
    expect(decodeDatagram(notVxlan)).toMatchObject({ reason: FlowStateDecodeReason.NotVxlan });
  });
});
