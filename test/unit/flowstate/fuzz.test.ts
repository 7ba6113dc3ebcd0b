// Fuzzing the flow-state decoder and receiver with random and mutated messages (bit flips, cuts,
// extensions, length and count fields set to edge values, splices): nothing throws, every error is a
// known reason at an offset inside the input, and whatever decodes re-encodes to the same message.
import fc from 'fast-check';
import {
  type FlowStateDecodeError, FlowStateDecodeReason, type FlowStateMessage, PushReceiver, createHmacAuthenticator, decodeDatagram, decodeMessage,
  encodeMessage, isFlowStateDecodeError,
} from '../../../src/agent-core/flowstate/index.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';

const ITERATIONS = 30_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f10e);
const KEY = createHmacAuthenticator('fuzz key');
const REASONS = new Set<string>(Object.values(FlowStateDecodeReason));

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function seeds(): Uint8Array[] {
  const msgs = [
    ...fc.sample(A.stateMessage(6), { seed: 1, numRuns: 200 }),
    ...fc.sample(A.ackMessage, { seed: 2, numRuns: 60 }),
  ];
  const out: Uint8Array[] = [];
  for (const [i, m] of msgs.entries()) {
    const b = encodeMessage(m, i % 3 === 0 ? KEY : undefined);
    if (b instanceof Uint8Array) out.push(b);
  }
  return out;
}

function mutate(src: Uint8Array, rnd: () => number, pool: readonly Uint8Array[]): Uint8Array {
  let b = src.slice();
  const rounds = 1 + (rnd() % 4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : rnd() % b.length;
    switch (rnd() % 8) {
      case 0: // bit flip
        if (b.length > 0) b[at] ^= 1 << (rnd() % 8);
        break;
      case 1: // random byte
        if (b.length > 0) b[at] = rnd() & 0xff;
        break;
      case 2: // edge values where lengths and counts live
        if (b.length > 0) b[at] = [0, 1, 0x7f, 0x80, 0xff, 0xfe][rnd() % 6];
        break;
      case 3: // cut
        b = b.subarray(0, rnd() % (b.length + 1)).slice();
        break;
      case 4: { // extend
        const extra = new Uint8Array(1 + (rnd() % 40));
        for (let i = 0; i < extra.length; i++) extra[i] = rnd() & 0xff;
        const c = new Uint8Array(b.length + extra.length);
        c.set(b);
        c.set(extra, b.length);
        b = c;
        break;
      }
      case 5: { // splice with another message
        const other = pool[rnd() % pool.length];
        const cut = rnd() % (other.length + 1);
        const c = new Uint8Array(at + other.length - cut);
        c.set(b.subarray(0, at));
        c.set(other.subarray(cut), at);
        b = c;
        break;
      }
      case 6: // a 16-bit count or length set to its maximum
        if (b.length > 1) {
          b[at] = 0xff;
          b[(at + 1) % b.length] = 0xff;
        }
        break;
      default: // the tag flag toggled
        if (b.length > 6) b[6] ^= 1;
    }
  }
  return b;
}

function randomBytes(rnd: () => number): Uint8Array {
  const b = new Uint8Array(rnd() % 200);
  for (let i = 0; i < b.length; i++) b[i] = rnd() & 0xff;
  // Half of them start like a message, so that the fuzz gets past the magic.
  if (rnd() % 2 === 0 && b.length >= 6) b.set([0x54, 0x47, 0x46, 0x53, 1, 1 + (rnd() % 2)]);
  return b;
}

function check(input: Uint8Array, r: FlowStateMessage | FlowStateDecodeError): void {
  if (isFlowStateDecodeError(r)) {
    if (!REASONS.has(r.reason)) throw new Error(`unknown reason ${r.reason}`);
    if (!(r.offset >= 0 && r.offset <= input.length)) throw new Error(`offset ${r.offset} outside 0..${input.length}`);
    return;
  }
  // Decoded: must be a well-formed value that survives a round-trip.
  const again = encodeMessage(r);
  if (!(again instanceof Uint8Array)) throw new Error(`decoded message does not re-encode: ${JSON.stringify(again)}`);
  expect(decodeMessage(again)).toEqual(r);
}

describe('flow-state fuzz', () => {
  test(`${ITERATIONS} random and mutated messages: no throw, errors are values, decodes are canonical`, () => {
    const rnd = xorshift(SEED);
    const pool = seeds();
    const receiver = new PushReceiver({ hostId: 'fuzz-host', epoch: 1 });
    const keyedReceiver = new PushReceiver({ hostId: 'fuzz-host', epoch: 1, auth: KEY });
    let decoded = 0;
    let authed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = i % 10 === 0 ? randomBytes(rnd) : mutate(pool[rnd() % pool.length], rnd, pool);
      let plain: ReturnType<typeof decodeMessage>;
      let keyed: ReturnType<typeof decodeMessage>;
      try {
        plain = decodeMessage(input);
        keyed = decodeMessage(input, KEY);
        const d = encodeVxlan(TUNNEL_KEY_FLOW_STATE, input);
        const viaVxlan = decodeDatagram(d);
        if (isFlowStateDecodeError(plain)) expect(viaVxlan).toMatchObject({ reason: plain.reason, offset: plain.offset + 8 });
        else expect(viaVxlan).toEqual(plain);
        receiver.onDatagram(d);
        keyedReceiver.onDatagram(d);
      } catch (err) {
        throw new Error(`input ${i} [${[...input].join(',')}]: ${String(err)}`);
      }
      check(input, plain);
      check(input, keyed);
      if (!isFlowStateDecodeError(plain)) decoded++;
      if (!isFlowStateDecodeError(keyed)) authed++;
    }
    // The mutations must reach past the header checks, or the fuzz tests little.
    expect(decoded).toBeGreaterThan(ITERATIONS / 20);
    // Mutated tagged messages should essentially never pass authentication.
    expect(authed).toBeLessThan(ITERATIONS / 10);
    const c = receiver.counters();
    expect(c.received + c.acksReceived + c.malformed + c.ownMessages).toBe(ITERATIONS);
    expect(keyedReceiver.counters().badAuth).toBeGreaterThan(0);
  });
});
