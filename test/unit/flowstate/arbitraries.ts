// fast-check generators for flow-state entries and messages, shared by the flow-state tests.
import fc from 'fast-check';
import type { AckMessage, FlowStateEntry, StateMessage } from '../../../src/agent-core/flowstate/index.js';

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const ip4 = u32;
export const ip6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
export const ip = fc.oneof(ip4, ip6);

/** Any well-formed text: 60 code points take at most 240 UTF-8 bytes, under the 255-byte id limit. */
export const anyId = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
/** Ids as they are in practice (UUID-like ASCII). */
export const asciiId = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 });
export const id = fc.oneof({ weight: 3, arbitrary: asciiId }, { weight: 1, arbitrary: anyId });
export const key = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 120 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 120 }),
);

export const conntrackEntry: fc.Arbitrary<FlowStateEntry> = fc.record({
  kind: fc.constant('conntrack' as const),
  key,
  lifetimeMs: u32,
});

export const natEntry: fc.Arbitrary<FlowStateEntry> = fc
  .record({
    key,
    binding: fc.record({ ip, port: fc.integer({ min: 0, max: 0xffff }) }),
    deviceId: id,
    leasedIp: fc.option(ip, { nil: undefined }),
    lifetimeMs: u32,
  })
  .map(({ leasedIp, ...rest }) => (leasedIp === undefined ? { kind: 'nat', ...rest } : { kind: 'nat', ...rest, leasedIp }));

export const entry = fc.oneof(conntrackEntry, natEntry);

export const stateMessage = (maxEntries = 20): fc.Arbitrary<StateMessage> =>
  fc.record({
    type: fc.constant('state' as const),
    sender: id,
    epoch: u32,
    seq: u32,
    ingressPortId: fc.oneof(id, fc.constant('')),
    egressPortIds: fc.array(id, { maxLength: 32 }),
    entries: fc.array(entry, { maxLength: maxEntries }),
  });

export const ackMessage: fc.Arbitrary<AckMessage> = fc.record({
  type: fc.constant('ack' as const),
  sender: id,
  epoch: u32,
  ackedSender: id,
  ackedEpoch: u32,
  seqs: fc.array(u32, { maxLength: 128 }),
});

export const message = fc.oneof(stateMessage(), ackMessage);

/** A key that looks like the simulator's (state-keys.ts): "<device>:<proto>:<src>:<sport>:<dst>:<dport>". */
export const realisticKey = fc
  .tuple(fc.uuid(), fc.constantFrom(1, 6, 17), ip4, fc.integer({ min: 0, max: 0xffff }), ip4, fc.integer({ min: 0, max: 0xffff }))
  .map(([d, p, s, sp, t, tp]) => `${d}:${p}:${s}:${sp}:${t}:${tp}`);
