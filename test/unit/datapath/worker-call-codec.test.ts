// The calls the main thread sends its datapath worker as bytes: every call comes back as it was
// made, in order with the structured-clone calls; recurring strings go by number; a call that
// cannot be encoded leaves no trace; bytes that cannot be read are an error, not a guess.
import fc from 'fast-check';
import type { DpAction, DpFlowSpec } from '../../../src/agent-core/datapath/datapath.js';
import {
  CallCodecError, CallDecoder, CallEncoder, MAX_NUMBERED_STRINGS, type DecodedCall,
} from '../../../src/agent-core/datapath/worker-call-codec.js';
import { Field, KEY_WORDS } from '../../../src/agent-core/packet/index.js';

function key(seed: number): Float64Array {
  return Float64Array.from({ length: KEY_WORDS }, (_, i) => (seed * 31 + i) % 65536);
}

const ACTIONS: readonly DpAction[] = [
  { kind: 'setField', field: Field.IpSrc, value: 0xcb00710a },
  { kind: 'setField', field: Field.IpDst, value: 0x20010db8000000000000000000000001n },
  { kind: 'setInnerField', field: Field.L4Src, value: 4321 },
  { kind: 'decTtl' },
  { kind: 'pushVlan', vlanId: 100 },
  { kind: 'popVlan' },
  { kind: 'output', port: 3 },
  { kind: 'tunnel', remoteIp: '192.0.2.7', key: 0x1234 },
];

function flow(seed: number, tags: readonly string[], actions: readonly DpAction[] = ACTIONS): DpFlowSpec {
  return { key: key(seed), mask: 0b1010_0000_1111, actions, tags, timeouts: { idleMs: 60_000, hardMs: 0 } };
}

function readAll(dec: CallDecoder, batch: { bytes: ArrayBuffer; length: number } | undefined): DecodedCall[] {
  if (batch === undefined) return [];
  dec.begin(batch.bytes, batch.length);
  const out: DecodedCall[] = [];
  for (let c = dec.next(); c !== undefined; c = dec.next()) out.push(c);
  return out;
}

describe('worker call codec', () => {
  test('every kind of call comes back as made, in order with the object calls', () => {
    const enc = new CallEncoder();
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
    const payload = Uint8Array.from([0x54, 0x47, 0x46, 0x53, 1, 2, 3]);
    enc.installFlow(flow(1, ['device:r1', 'ct:10.0.0.1|1|2', 'ü-tag']));
    enc.object();
    enc.execute(frame, ACTIONS);
    enc.sendFlowState('192.0.2.9', payload);
    enc.invalidate(['device:r1', 'binding:p2']);
    enc.installFlow({ ...flow(2, []), timeouts: { idleMs: 0, hardMs: 5_000, priority: 7 } });
    enc.installFlow({ ...flow(3, ['device:r1']), maxIpLength: 1400 });
    const calls = readAll(new CallDecoder(), enc.take());
    expect(calls.map((c) => c.op)).toEqual(['installFlow', 'object', 'execute', 'sendFlowState', 'invalidate', 'installFlow', 'installFlow']);
    expect(calls[0]).toEqual({ op: 'installFlow', flow: flow(1, ['device:r1', 'ct:10.0.0.1|1|2', 'ü-tag']) });
    expect(calls[2]).toEqual({ op: 'execute', frame, actions: ACTIONS });
    expect(calls[3]).toEqual({ op: 'sendFlowState', remoteIp: '192.0.2.9', payload });
    expect(calls[4]).toEqual({ op: 'invalidate', tags: ['device:r1', 'binding:p2'] });
    expect(calls[5]).toEqual({ op: 'installFlow', flow: { ...flow(2, []), timeouts: { idleMs: 0, hardMs: 5_000, priority: 7 } } });
    expect(calls[6]).toEqual({ op: 'installFlow', flow: { ...flow(3, ['device:r1']), maxIpLength: 1400 } });
  });

  test('a string crosses once; after that it goes by number, across batches', () => {
    const enc = new CallEncoder();
    const dec = new CallDecoder();
    const tags = ['device:a-long-device-identifier-0001', 'port:a-long-port-identifier-0002'];
    enc.invalidate(tags);
    const first = enc.take()!;
    enc.invalidate(tags);
    const second = enc.take()!;
    expect(second.length).toBeLessThan(first.length / 3);
    expect(readAll(dec, first)).toEqual([{ op: 'invalidate', tags }]);
    expect(readAll(dec, second)).toEqual([{ op: 'invalidate', tags }]);
  });

  test('past the numbering limit both sides start over and stay in step', () => {
    const enc = new CallEncoder();
    const dec = new CallDecoder();
    const n = MAX_NUMBERED_STRINGS + 100;
    for (let i = 0; i < n; i += 1000) {
      const tags = Array.from({ length: Math.min(1000, n - i) }, (_, j) => `ct:${i + j}`);
      enc.invalidate([...tags, 'device:hot']);
      expect(readAll(dec, enc.take())).toEqual([{ op: 'invalidate', tags: [...tags, 'device:hot'] }]);
    }
  });

  test('an execute repeating its install\'s action list sends it once; the decoded calls share it', () => {
    const enc = new CallEncoder();
    const dec = new CallDecoder();
    const frame = new Uint8Array(60);
    enc.installFlow(flow(7, ['t'], ACTIONS));
    const alone = enc.byteLength;
    enc.execute(frame, ACTIONS);
    expect(enc.byteLength - alone).toBeLessThan(4 + frame.length + 8);
    const [install, execute] = readAll(dec, enc.take());
    expect(execute).toEqual({ op: 'execute', frame, actions: ACTIONS });
    expect(install!.op === 'installFlow' && execute!.op === 'execute' && install!.flow.actions === execute!.actions).toBe(true);
    // A record abandoned after its actions were written: the next use of that list sends it whole.
    const bad = [...ACTIONS];
    expect(() => enc.installFlow({ ...flow(8, ['t']), actions: bad, tags: new Array<string>(0x10000).fill('x') })).toThrow(CallCodecError);
    enc.execute(frame, bad);
    expect(readAll(dec, enc.take())).toEqual([{ op: 'execute', frame, actions: bad }]);
  });

  test('a call that cannot be encoded throws and leaves no trace', () => {
    const enc = new CallEncoder();
    const dec = new CallDecoder();
    enc.invalidate(['kept']);
    const bad: DpAction = { kind: 'setField', field: Field.IpSrc, value: -1n };
    expect(() => enc.installFlow(flow(3, ['new-tag-of-the-bad-call'], [bad]))).toThrow(CallCodecError);
    expect(() => enc.execute(new Uint8Array(60), [{ kind: 'bogus' } as unknown as DpAction])).toThrow(CallCodecError);
    expect(() => enc.installFlow({ ...flow(4, []), key: new Float64Array(3) })).toThrow(CallCodecError);
    enc.invalidate(['new-tag-of-the-bad-call']);
    expect(readAll(dec, enc.take())).toEqual([
      { op: 'invalidate', tags: ['kept'] }, { op: 'invalidate', tags: ['new-tag-of-the-bad-call'] },
    ]);
  });

  test('truncated or unknown bytes are an error', () => {
    const enc = new CallEncoder();
    enc.installFlow(flow(5, ['t']));
    const { bytes, length } = enc.take()!;
    for (const cut of [1, 10, 8 * KEY_WORDS + 5, length - 1]) {
      const dec = new CallDecoder();
      dec.begin(bytes, cut);
      expect(() => dec.next()).toThrow(CallCodecError);
    }
    const dec = new CallDecoder();
    dec.begin(Uint8Array.from([99]).buffer, 1);
    expect(() => dec.next()).toThrow(/unknown call code 99/);
    // A reference to a string the decoder never saw (its batch was lost).
    const later = new CallEncoder();
    later.invalidate(['x']);
    later.take();
    later.invalidate(['x']);
    const orphan = later.take()!;
    const fresh = new CallDecoder();
    fresh.begin(orphan.bytes, orphan.length);
    expect(() => fresh.next()).toThrow(/never defined/);
  });

  test('property: random calls round-trip', () => {
    const value = fc.oneof(fc.integer({ min: 0, max: 2 ** 48 }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }));
    const action: fc.Arbitrary<DpAction> = fc.oneof(
      fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.IpSrc, Field.L4Dst), value }),
      fc.constant({ kind: 'decTtl' as const }),
      fc.record({ kind: fc.constant('output' as const), port: fc.nat(1000) }),
      fc.record({ kind: fc.constant('tunnel' as const), remoteIp: fc.constantFrom('192.0.2.1', '2001:db8::1'), key: fc.nat(0xffffff) }),
    );
    const tags = fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 12 });
    const call = fc.oneof(
      fc.record({
        kind: fc.constant('install' as const), seed: fc.nat(1000), tags, actions: fc.array(action, { maxLength: 6 }),
        maxIpLength: fc.option(fc.integer({ min: 68, max: 65535 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('execute' as const), frame: fc.uint8Array({ minLength: 14, maxLength: 200 }), actions: fc.array(action, { maxLength: 6 }) }),
      fc.record({ kind: fc.constant('invalidate' as const), tags }),
    );
    const enc = new CallEncoder();
    const dec = new CallDecoder();
    fc.assert(fc.property(fc.array(call, { maxLength: 20 }), (calls) => {
      const expected: DecodedCall[] = [];
      for (const c of calls) {
        if (c.kind === 'install') {
          const f = c.maxIpLength === undefined ? flow(c.seed, c.tags, c.actions) : { ...flow(c.seed, c.tags, c.actions), maxIpLength: c.maxIpLength };
          enc.installFlow(f);
          expected.push({ op: 'installFlow', flow: f });
        } else if (c.kind === 'execute') {
          enc.execute(c.frame, c.actions);
          expected.push({ op: 'execute', frame: c.frame, actions: c.actions });
        } else {
          enc.invalidate(c.tags);
          expected.push({ op: 'invalidate', tags: c.tags });
        }
      }
      expect(readAll(dec, enc.take())).toEqual(expected);
    }));
  });
});
