// Splitting pushes into datagram-sized messages: every datagram fits, nothing is lost or reordered,
// and size arithmetic agrees with the encoder.
import fc from 'fast-check';
import {
  type FlowStateEntry, MAX_DATAGRAM_BYTES, MAX_ENTRIES_PER_MESSAGE, PushSender, TAG_LEN, createHmacAuthenticator,
  decodeDatagram, encodeMessage, encodedEntrySize, isFlowStateDecodeError, isFlowStateEncodeError, splitIntoBatches,
  stateHeaderSize,
} from '../../../src/agent-core/flowstate/index.js';
import * as A from './arbitraries.js';

const header = { sender: 'host-a', ingressPortId: 'in', egressPortIds: ['out-1', 'out-2'] };

describe('size arithmetic', () => {
  test('header and entry sizes add up to the encoded length', () => {
    fc.assert(
      fc.property(A.stateMessage(), (m) => {
        const b = encodeMessage(m);
        if (isFlowStateEncodeError(b)) throw new Error('encode failed');
        const sum = stateHeaderSize(m) + m.entries.reduce((n, e) => n + encodedEntrySize(e), 0);
        expect(sum).toBe(b.length);
      }),
      { numRuns: 1000 },
    );
  });

  test('bad strings have no size', () => {
    expect(encodedEntrySize({ kind: 'conntrack', key: '', lifetimeMs: 0 })).toBe(-1);
    expect(encodedEntrySize({ kind: 'conntrack', key: '\udc00', lifetimeMs: 0 })).toBe(-1);
    expect(stateHeaderSize({ ...header, sender: '' })).toBe(-1);
  });
});

describe('splitIntoBatches', () => {
  test('every batch fits the datagram; all good entries kept in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(A.entry, A.realisticKey.map((key): FlowStateEntry => ({ kind: 'conntrack', key, lifetimeMs: 60000 }))), { maxLength: 400 }),
        fc.integer({ min: 200, max: 1500 }),
        fc.boolean(),
        (entries, maxDatagramBytes, tagged) => {
          const r = splitIntoBatches(header, entries, { maxDatagramBytes, tagged });
          if (isFlowStateEncodeError(r)) throw new Error('unexpected');
          const budget = maxDatagramBytes - 8 - (tagged ? TAG_LEN : 0) - stateHeaderSize(header);
          for (const b of r.batches) {
            expect(b.length).toBeGreaterThan(0);
            expect(b.length).toBeLessThanOrEqual(MAX_ENTRIES_PER_MESSAGE);
            expect(b.reduce((n, e) => n + encodedEntrySize(e), 0)).toBeLessThanOrEqual(budget);
          }
          expect(r.batches.flat()).toEqual(entries.filter((e) => encodedEntrySize(e) <= budget));
          expect(r.rejected).toEqual(entries.filter((e) => encodedEntrySize(e) > budget));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('many small entries are capped by count, not bytes', () => {
    const entries = Array.from({ length: 600 }, (_, i): FlowStateEntry => ({ kind: 'conntrack', key: String(i % 10), lifetimeMs: 1 }));
    const r = splitIntoBatches(header, entries, { maxDatagramBytes: 1_000_000, tagged: false });
    if (isFlowStateEncodeError(r)) throw new Error('unexpected');
    expect(r.batches.map((b) => b.length)).toEqual([255, 255, 90]);
  });

  test('a header that leaves no room is an error value', () => {
    const big = { ...header, egressPortIds: Array.from({ length: 32 }, (_, i) => `${'p'.repeat(60)}${i}`) };
    expect(splitIntoBatches(big, [], { tagged: true })).toMatchObject({ kind: 'flowStateEncodeError', reason: 'too-large' });
    expect(splitIntoBatches({ ...header, sender: '' }, [], { tagged: false })).toMatchObject({ reason: 'bad-string' });
  });

  test('datagrams the sender emits for a large push are each at most 1400 bytes and carry everything once', () => {
    const auth = createHmacAuthenticator('k');
    const s = new PushSender({ hostId: 'host-a', epoch: 3, auth });
    const entries = fc.sample(A.realisticKey, { seed: 7, numRuns: 1000 }).map((key): FlowStateEntry => ({ kind: 'conntrack', key, lifetimeMs: 60000 }));
    const out = s.pushFlowState({ ingressPortId: 'in', egressPortIds: ['out'], entries }, ['host-b'], 0);
    expect(out.length).toBeGreaterThan(10);
    const got: string[] = [];
    for (const d of out) {
      expect(d.payload.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
      const m = decodeDatagram(d.payload, auth);
      if (isFlowStateDecodeError(m) || m.type !== 'state') throw new Error('bad datagram');
      got.push(...m.entries.map((e) => e.key));
    }
    expect(got).toEqual(entries.map((e) => e.key));
  });
});
