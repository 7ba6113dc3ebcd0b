// A corpus of known-bad flow-state messages, each with the reason and offset the decoder must give.
import {
  FlowStateDecodeReason as R, MAX_ACK_SEQS, MAX_EGRESS_PORTS, MAX_ENTRIES_PER_MESSAGE, decodeDatagram, decodeMessage,
  isFlowStateDecodeError,
} from '../../../src/agent-core/flowstate/index.js';

const HDR = [0x54, 0x47, 0x46, 0x53, 1]; // magic, version
const STATE = [...HDR, 1, 0, 0, 0, 0, 0, 9, 1, 0x61]; // STATE, no flags, epoch 9, sender "a"
const ACK = [...HDR, 2, 0, 0, 0, 0, 0, 9, 1, 0x61];
const SEQ = [0, 0, 0, 1];

const corpus: [string, number[], string, number][] = [
  ['empty', [], R.Truncated, 0],
  ['three bytes', [0x54, 0x47, 0x46], R.Truncated, 0],
  ['bad magic', [0x54, 0x47, 0x46, 0x54, 1, 1, 0, 0, 0, 0, 0, 0], R.BadMagic, 0],
  ['an Ethernet frame', new Array<number>(64).fill(0xff), R.BadMagic, 0],
  ['magic only', [0x54, 0x47, 0x46, 0x53], R.Truncated, 4],
  ['version 0', [...HDR.slice(0, 4), 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61], R.UnknownVersion, 4],
  ['version 2', [...HDR.slice(0, 4), 2, 1, 0, 0, 0, 0, 0, 0, 1, 0x61], R.UnknownVersion, 4],
  ['type 0', [...HDR, 0, 0, 0, 0, 0, 0, 0, 1, 0x61], R.UnknownType, 5],
  ['type 3', [...HDR, 3, 0, 0, 0, 0, 0, 0, 1, 0x61], R.UnknownType, 5],
  ['fixed header only', [...HDR, 1, 0, 0, 0, 0, 0, 9], R.Truncated, 12],
  ['empty sender', [...HDR, 1, 0, 0, 0, 0, 0, 9, 0], R.BadLength, 12],
  ['sender past the end', [...HDR, 1, 0, 0, 0, 0, 0, 9, 5, 0x61], R.Truncated, 13],
  ['sender not UTF-8', [...HDR, 1, 0, 0, 0, 0, 0, 9, 2, 0xc3, 0x28], R.BadString, 12],
  ['sender overlong UTF-8', [...HDR, 1, 0, 0, 0, 0, 0, 9, 2, 0xc0, 0xaf], R.BadString, 12],
  ['sender encodes a surrogate', [...HDR, 1, 0, 0, 0, 0, 0, 9, 3, 0xed, 0xa0, 0x80], R.BadString, 12],
  ['STATE without seq', [...STATE, 0, 0], R.Truncated, 14],
  ['STATE without ingress', [...STATE, ...SEQ], R.Truncated, 18],
  ['ingress past the end', [...STATE, ...SEQ, 9, 0x70], R.Truncated, 19],
  ['STATE without egress count', [...STATE, ...SEQ, 0], R.Truncated, 19],
  ['too many egress ports', [...STATE, ...SEQ, 0, MAX_EGRESS_PORTS + 1], R.TooManyEntries, 19],
  ['empty egress id', [...STATE, ...SEQ, 0, 1, 0], R.BadLength, 20],
  ['STATE without entry count', [...STATE, ...SEQ, 0, 0], R.Truncated, 20],
  ['too many entries', [...STATE, ...SEQ, 0, 0, (MAX_ENTRIES_PER_MESSAGE + 1) >> 8, (MAX_ENTRIES_PER_MESSAGE + 1) & 0xff], R.TooManyEntries, 20],
  ['count larger than the entries present', [...STATE, ...SEQ, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 1, 0x6b], R.Truncated, 30],
  ['unknown entry kind', [...STATE, ...SEQ, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 1, 0x6b], R.BadValue, 22],
  ['entry kind 0', [...STATE, ...SEQ, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x6b], R.BadValue, 22],
  ['entry cut in its lifetime', [...STATE, ...SEQ, 0, 0, 0, 1, 1, 0, 0], R.Truncated, 22],
  ['empty key', [...STATE, ...SEQ, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], R.BadLength, 27],
  ['key over 512 bytes', [...STATE, ...SEQ, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0x02, 0x01, ...new Array<number>(513).fill(0x6b)], R.BadLength, 27],
  ['key past the end', [...STATE, ...SEQ, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 9, 0x6b], R.Truncated, 29],
  ['nat without family', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b], R.Truncated, 30],
  ['nat family 5', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 5, 1, 2, 3, 4, 0, 80, 1, 0x64, 0], R.BadValue, 30],
  ['nat IPv6 cut', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 6, 1, 2, 3, 4], R.Truncated, 31],
  ['nat without port', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0], R.Truncated, 35],
  ['nat without device', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80], R.Truncated, 37],
  ['nat empty device', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80, 0, 0], R.BadLength, 37],
  ['nat without leased family', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80, 1, 0x64], R.Truncated, 39],
  ['nat leased family 7', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80, 1, 0x64, 7], R.BadValue, 39],
  ['nat leased cut', [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80, 1, 0x64, 4, 1], R.Truncated, 40],
  ['trailing byte after STATE', [...STATE, ...SEQ, 0, 0, 0, 0, 0xaa], R.BadLength, 22],
  ['ACK without acked sender', [...ACK], R.Truncated, 14],
  ['ACK without epoch and count', [...ACK, 1, 0x62, 0, 0], R.Truncated, 16],
  ['ACK with too many seqs', [...ACK, 1, 0x62, 0, 0, 0, 1, 0, MAX_ACK_SEQS + 1], R.TooManyEntries, 20],
  ['ACK seqs past the end', [...ACK, 1, 0x62, 0, 0, 0, 1, 0, 2, 0, 0, 0, 1], R.Truncated, 22],
  ['trailing bytes after ACK', [...ACK, 1, 0x62, 0, 0, 0, 1, 0, 0, 0xaa, 0xbb], R.BadLength, 22],
  ['tag flag with fewer than 16 bytes after the header', [...HDR, 1, 1, 0, 0, 0, 0, 9, 1, 0x61], R.Truncated, 12],
];

describe('flow-state decoder: known-bad inputs', () => {
  test.each(corpus)('%s', (_name, input, reason, offset) => {
    const r = decodeMessage(new Uint8Array(input));
    expect(isFlowStateDecodeError(r)).toBe(true);
    expect(r).toEqual({ kind: 'flowStateDecodeError', reason, offset });
  });

  test('the good message the corpus is cut from decodes', () => {
    const good = [...STATE, ...SEQ, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0x6b, 4, 1, 2, 3, 4, 0, 80, 1, 0x64, 4, 1, 2, 3, 4];
    expect(decodeMessage(new Uint8Array(good))).toMatchObject({
      type: 'state', sender: 'a', epoch: 9, seq: 1, entries: [{ kind: 'nat', key: 'k', binding: { ip: 0x01020304, port: 80 }, leasedIp: 0x01020304 }],
    });
    expect(decodeMessage(new Uint8Array([...ACK, 1, 0x62, 0, 0, 0, 1, 0, 1, 0, 0, 0, 5]))).toMatchObject({ type: 'ack', ackedSender: 'b', seqs: [5] });
  });

  test('a datagram shorter than a VXLAN header', () => {
    expect(decodeDatagram(new Uint8Array([8, 0, 0]))).toMatchObject({ reason: R.NotVxlan });
  });

  test('offsets inside a datagram count from the UDP payload', () => {
    const d = new Uint8Array([0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0, ...HDR, 9, 0, 0, 0, 0, 0, 0]);
    expect(decodeDatagram(d)).toEqual({ kind: 'flowStateDecodeError', reason: R.UnknownType, offset: 13 });
  });
});
