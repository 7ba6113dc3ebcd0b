// Fuzzing the decoders, the flow key readers, the ICMP inner parser and the rewriter with 100,000
// random and mutated frames (bit flips, cuts, length fields, ethertype swaps): nothing throws, nothing
// reads past the end, every value is a finite number in range, and the two key readers agree.
import fc from 'fast-check';
import {
  type HeaderModification, DecodeLayer, DecodeReason, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ,
  ETHERTYPE_VLAN, FIELD_OFFSET, FIELD_WIDTH, Field, FrameLayout, IP_TTL_CLAMP, KEY_WORDS, applyModifications, applyModificationsInPlace,
  buildArpReply, buildArpRequest, buildIcmp4Error, buildIcmp6Error, buildNdAdvert, buildNdSolicit, decodeFrame,
  decodeTcpOptions, decodeVxlan, encodeFrame, extractFlowKey, flowMatchFromFrame, frameWithVlan, isDecodeError,
  parseIcmpErrorInner, parseLayout,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import {
  IP6_A, IP6_B, IP_A, IP_B, MAC_A, MAC_B, echo4Frame, echo6Frame, fragHdr, hopByHop, ip6Frame, tcp, tcp4Frame, tcp6Frame,
  udp4Frame, udp6Frame,
} from './samples.js';

const ITERATIONS = 100_000;
/** Every Nth frame is also run through a Proxy that throws on any index outside the array. */
const BOUNDS_CHECK_EVERY = 3;
const SEED = Number(process.env.FUZZ_SEED ?? 0x7011_6a7e);

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

const LAYERS = new Set<string>(Object.values(DecodeLayer));
const REASONS = new Set<string>(Object.values(DecodeReason));

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [
    ...fc.sample(A.ip4Frame, { seed: 42, numRuns: 300 }),
    ...fc.sample(A.ip6Frame, { seed: 43, numRuns: 300 }),
    ...fc.sample(A.arpFrame, { seed: 44, numRuns: 40 }),
    ...fc.sample(A.rawFrame, { seed: 45, numRuns: 40 }),
  ].map((f) => encodeFrame(f));
  const ok = (r: Uint8Array | { kind: 'decodeError' }): Uint8Array[] => (r instanceof Uint8Array ? [r] : []);
  out.push(
    buildArpRequest(MAC_A, IP_A, IP_B), buildArpReply(MAC_A, IP_A, MAC_B, IP_B),
    buildNdSolicit(MAC_A, IP6_A, IP6_B), buildNdAdvert(MAC_A, IP6_A, MAC_B, IP6_B, { router: true, solicited: true, override: true }),
    tcp4Frame(), udp4Frame({ mf: true }), echo4Frame(), tcp6Frame({ ext: [hopByHop(), fragHdr(0, true)] }), echo6Frame(),
    ip6Frame(6, tcp(), { ext: [hopByHop(14), { kind: 'options', type: 51, data: new Uint8Array(10) }] }),
    ...ok(buildIcmp4Error(tcp4Frame(), 3, 4, 0x0a000005, MAC_B, MAC_A, 1400)),
    ...ok(buildIcmp4Error(echo4Frame(), 11, 0, 0x0a000005, MAC_B, MAC_A)),
    ...ok(buildIcmp6Error(udp6Frame(), 2, 0, IP6_B, MAC_B, MAC_A, 1280)),
    ...ok(buildIcmp6Error(echo6Frame({ ext: [hopByHop()] }), 1, 0, IP6_B, MAC_B, MAC_A)),
  );
  for (const f of out.slice(0, 60)) out.push(...ok(frameWithVlan(f, 100)), ...ok(frameWithVlan(frameWithVlan(f, 7) as Uint8Array, 8)));
  return out;
}

/** Offsets of length-like fields in a frame, where mutations find the most decoder branches. */
function lengthFields(b: Uint8Array): number[] {
  const L = new FrameLayout();
  parseLayout(b, L);
  const at = [12, 13, 16, 17, L.l3, L.l3 + 2, L.l3 + 3, L.l3 + 4, L.l3 + 5, L.l3 + 6, L.l3 + 41, L.l3 + 48, L.l3 + 49];
  if (L.l4 >= 0) at.push(L.l4, L.l4 + 1, L.l4 + 4, L.l4 + 5, L.l4 + 12, L.l4 + 25, L.l4 + 33, L.l4 + 8, L.l4 + 14, L.l4 + 16, L.l4 + 54);
  return at.filter((o) => o >= 0 && o < b.length);
}

/**
 * Grows or shrinks the IP datagram by `delta` bytes at its end, keeping the IPv4 total length or IPv6
 * payload length in step, so the upper layer (TCP options, ND options, UDP length) meets odd sizes.
 */
function resizeDatagram(b: Uint8Array, delta: number, rnd: () => number): Uint8Array {
  const L = new FrameLayout();
  if (!parseLayout(b, L) || L.ipVersion === 0) return b;
  const lenAt = L.ipVersion === 4 ? L.l3 + 2 : L.l3 + 4;
  const len = b[lenAt] * 256 + b[lenAt + 1] + delta;
  const end = L.l3End + delta;
  if (len < 0 || len > 0xffff || end < L.l3) return b;
  const c = new Uint8Array(b.length + delta);
  c.set(b.subarray(0, Math.min(L.l3End, end)));
  for (let i = L.l3End; i < end; i++) c[i] = rnd() & 0xff;
  c.set(b.subarray(L.l3End), end);
  c[lenAt] = len >> 8;
  c[lenAt + 1] = len & 0xff;
  return c;
}

const ETHERTYPES = [ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ, 0x88cc];

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  let b: Uint8Array = src.slice();
  const rounds = 1 + (rnd() % 3);
  for (let r = 0; r < rounds; r++) {
    const op = rnd() % 9;
    if (op === 0 && b.length > 0) {
      for (let i = 1 + (rnd() % 8); i > 0; i--) b[rnd() % b.length] ^= 1 << (rnd() % 8);
    } else if (op === 1 && b.length > 0) {
      for (let i = 1 + (rnd() % 4); i > 0; i--) b[rnd() % b.length] = rnd() & 0xff;
    } else if (op === 2) {
      b = b.slice(0, rnd() % (b.length + 1));
    } else if (op === 3) {
      const extra = new Uint8Array(1 + (rnd() % 32)).map(() => rnd() & 0xff);
      const c = new Uint8Array(b.length + extra.length);
      c.set(b);
      c.set(extra, b.length);
      b = c;
    } else if (op === 4 || op === 5) {
      const fields = lengthFields(b);
      if (fields.length > 0) {
        const o = fields[rnd() % fields.length];
        const choices = [0, 1, 2, 0xff, (b[o] + 1) & 0xff, (b[o] - 1) & 0xff, rnd() & 0xff];
        b[o] = choices[rnd() % choices.length];
      }
    } else if (op === 6 && b.length >= 14) {
      const t = ETHERTYPES[rnd() % ETHERTYPES.length];
      const at = [12, 16, 20][rnd() % 3];
      if (at + 2 <= b.length) {
        b[at] = t >> 8;
        b[at + 1] = t & 0xff;
      }
    } else if (op === 7) {
      b = resizeDatagram(b, (rnd() % 33) - 16, rnd);
    } else {
      b = new Uint8Array(rnd() % 120).map(() => rnd() & 0xff);
    }
  }
  return b;
}

/** Re-encodes a decodable frame with fresh checksums, so that rewrites meet odd but valid frames too. */
function repairChecksums(b: Uint8Array): Uint8Array {
  const d = decodeFrame(b);
  if (isDecodeError(d)) return b;
  return encodeFrame({
    ...d,
    ip4: d.ip4 && { ...d.ip4, checksum: undefined },
    l4: d.l4 && d.l4.kind !== 'raw' ? { ...d.l4, checksum: undefined } : d.l4,
  });
}

/** Throws on any read or write outside the array (typed arrays silently give undefined). */
function boundsChecked(b: Uint8Array): Uint8Array {
  const check = (t: Uint8Array, p: string | symbol): void => {
    if (typeof p === 'string' && /^-?\d+$/.test(p) && (Number(p) < 0 || Number(p) >= t.length)) {
      throw new Error(`out-of-bounds access at ${p} of ${t.length}`);
    }
  };
  return new Proxy(b, {
    get(t, p) {
      check(t, p);
      const v: unknown = Reflect.get(t, p);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
    set(t, p, v) {
      check(t, p);
      return Reflect.set(t, p, v);
    },
  });
}

/** Every number a non-negative integer (at most 48 bits), every bigint a 128-bit address, no undefined/null. */
function assertSane(x: unknown, path: string, maxBytes: number): void {
  if (typeof x === 'number') {
    if (!Number.isInteger(x) || x < 0 || x > 0xffffffffffff) throw new Error(`${path} = ${x}`);
  } else if (typeof x === 'bigint') {
    if (x < 0n || x >= 1n << 128n) throw new Error(`${path} = ${x}`);
  } else if (x instanceof Uint8Array) {
    if (x.length > maxBytes) throw new Error(`${path}: ${x.length} bytes from a ${maxBytes}-byte frame`);
  } else if (Array.isArray(x)) {
    x.forEach((v, i) => assertSane(v, `${path}[${i}]`, maxBytes));
  } else if (x !== null && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) assertSane(v, `${path}.${k}`, maxBytes);
  } else if (typeof x !== 'string' && typeof x !== 'boolean') {
    throw new Error(`${path} is ${String(x)}`);
  }
}

function assertSaneError(e: { layer: string; reason: string; offset: number }, len: number, what: string): void {
  if (!LAYERS.has(e.layer) || !REASONS.has(e.reason) || !Number.isInteger(e.offset) || e.offset < 0 || e.offset > len) {
    throw new Error(`${what}: bad DecodeError ${JSON.stringify(e)} for a ${len}-byte frame`);
  }
}

const KEY_MAX: Record<number, number> = {
  [Field.EthSrc]: 0xffffffffffff, [Field.EthDst]: 0xffffffffffff, [Field.EthType]: 0xffff, [Field.VlanId]: 0x1000,
  [Field.InnerVlanId]: 0x1000, [Field.IpProto]: 0xffff, [Field.IpTos]: 0xff, [Field.IpTtl]: IP_TTL_CLAMP, [Field.IpFrag]: 2,
  [Field.IpSrc]: 0xffffffff, [Field.IpDst]: 0xffffffff, [Field.L4Src]: 0xffff, [Field.L4Dst]: 0xffff, [Field.IcmpId]: 0xffff,
  [Field.TcpFlags]: 0xfff, [Field.ArpSha]: 0xffffffffffff, [Field.ArpTha]: 0xffffffffffff, [Field.NdTarget]: 0xffffffff,
  [Field.InPort]: 1000, [Field.TunnelKey]: 0xffffff,
};

function assertSaneKey(key: Float64Array): void {
  for (const f of Object.values(Field)) {
    for (let w = 0; w < FIELD_WIDTH[f]; w++) {
      const v = key[FIELD_OFFSET[f] + w];
      if (!Number.isInteger(v) || v < 0 || v > KEY_MAX[f]) throw new Error(`key field ${f} word ${w} = ${v}`);
    }
  }
}

const MODS: readonly HeaderModification[] = [
  { kind: 'setField', field: Field.EthSrc, value: 0x020000000077 },
  { kind: 'setField', field: Field.IpTos, value: 0x10 },
  { kind: 'setField', field: Field.L4Src, value: 4242 },
  { kind: 'setField', field: Field.L4Dst, value: 0 },
  { kind: 'setField', field: Field.IcmpId, value: 0xffff },
  { kind: 'setField', field: Field.VlanId, value: 33 },
  { kind: 'decTtl' },
  { kind: 'setInnerField', field: Field.L4Dst, value: 8080 },
  { kind: 'setInnerField', field: Field.IcmpId, value: 1 },
  { kind: 'pushVlan', vlanId: 12 },
  { kind: 'popVlan' },
];

/** Address rewrites with a value of the frame's family (a mismatch is only a refused rewrite). */
function addressMods(v6: boolean): HeaderModification[] {
  const a = (n: number): number | bigint => (v6 ? 0xfd000000000000000000000000000000n + BigInt(n) : 0x0a0a0a00 + n);
  return [
    { kind: 'setField', field: Field.IpSrc, value: a(1) },
    { kind: 'setField', field: Field.IpDst, value: a(2) },
    { kind: 'setInnerField', field: Field.IpSrc, value: a(3) },
    { kind: 'setInnerField', field: Field.IpDst, value: a(4) },
  ];
}
const ADDRESS_MODS = [addressMods(false), addressMods(true)];

function pickMod(rnd: () => number, v6: boolean): HeaderModification {
  return rnd() % 2 === 0 ? MODS[rnd() % MODS.length] : ADDRESS_MODS[v6 ? 1 : 0][rnd() % 4];
}

type Status = string | undefined;
function statuses(frame: Uint8Array): [Status, Status] | undefined {
  const d = decodeFrame(frame);
  if (isDecodeError(d)) return undefined;
  return [d.ip4?.checksumStatus, d.l4 && d.l4.kind !== 'raw' ? d.l4.checksumStatus : undefined];
}

test(`${ITERATIONS} random and mutated frames (seed ${SEED})`, () => {
  const rnd = xorshift(SEED);
  const base = seeds();
  const key = new Float64Array(KEY_WORDS);
  const stats = { decoded: 0, errors: 0, rewritten: 0, checksumsKept: 0 };
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const mutated = mutate(base[rnd() % base.length], rnd);
    const m = rnd() % 4 === 0 ? repairChecksums(mutated) : mutated;
    const where = `iteration ${i} (FUZZ_SEED=${SEED}), frame ${Buffer.from(m).toString('hex')}`;
    try {
      const d = decodeFrame(m);
      if (isDecodeError(d)) {
        stats.errors++;
        assertSaneError(d, m.length, 'decodeFrame');
      } else {
        stats.decoded++;
        assertSane(d, 'frame', m.length);
      }
      const inPort = rnd() % 1000;
      const tk = rnd() & 0xffffff;
      const fm = flowMatchFromFrame(m, inPort, tk);
      const fast = extractFlowKey(m, inPort, tk, key);
      if (fast === isDecodeError(fm)) throw new Error(`extractFlowKey ${fast} but flowMatchFromFrame ${isDecodeError(fm) ? 'failed' : 'succeeded'}`);
      if (isDecodeError(fm)) {
        assertSaneError(fm, m.length, 'flowMatchFromFrame');
      } else {
        assertSaneKey(key);
        for (let w = 0; w < KEY_WORDS; w++) if (key[w] !== fm.orig[w]) throw new Error(`key word ${w}: ${key[w]} vs ${fm.orig[w]}`);
      }
      const inner = parseIcmpErrorInner(m);
      if (isDecodeError(inner)) assertSaneError(inner, m.length, 'parseIcmpErrorInner');
      else assertSane(inner, 'inner', m.length);

      const v6 = !isDecodeError(fm) && fm.orig[FIELD_OFFSET[Field.EthType]] === ETHERTYPE_IPV6;
      const mods = rnd() % 2 === 0 ? [pickMod(rnd, v6)] : [pickMod(rnd, v6), pickMod(rnd, v6)];
      const out = applyModifications(m, mods);
      if (isDecodeError(out)) {
        assertSaneError(out, m.length + 8, 'applyModifications');
      } else {
        stats.rewritten++;
        const before = statuses(m);
        const after = statuses(out);
        if (before && !after) throw new Error(`rewrite ${JSON.stringify(mods, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))} broke a decodable frame`);
        // Incremental checksum updates keep a correct checksum correct.
        if (before && after && !mods.some((x) => x.kind === 'pushVlan' || x.kind === 'popVlan')) {
          if (before[0] === 'ok' && after[0] !== 'ok') throw new Error(`IPv4 header checksum ${after[0]} after rewrite`);
          if (before[1] === 'ok' && after[1] !== 'ok') throw new Error(`L4 checksum ${after[1]} after rewrite`);
          if (before[0] === 'ok' || before[1] === 'ok') stats.checksumsKept++;
        }
      }
      const vx = decodeVxlan(m, rnd() % (m.length + 1));
      if (isDecodeError(vx)) assertSaneError(vx, m.length, 'decodeVxlan');
      else assertSane(vx, 'vxlan', m.length);
      const opts = decodeTcpOptions(m.subarray(rnd() % (m.length + 1)));
      if (!isDecodeError(opts)) assertSane(opts, 'tcpOptions', m.length);

      if (i % BOUNDS_CHECK_EVERY === 0) {
        decodeFrame(boundsChecked(m));
        extractFlowKey(boundsChecked(m), inPort, tk, key);
        parseIcmpErrorInner(boundsChecked(m));
        applyModificationsInPlace(boundsChecked(m.slice()), mods);
        decodeVxlan(boundsChecked(m), rnd() % (m.length + 1));
      }
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  // The corpus must exercise both outcomes, or the test proves nothing.
  expect(stats.decoded).toBeGreaterThan(ITERATIONS / 10);
  expect(stats.errors).toBeGreaterThan(ITERATIONS / 10);
  expect(stats.rewritten).toBeGreaterThan(ITERATIONS / 20);
  expect(Date.now() - started).toBeLessThan(60_000);
  expect(stats.checksumsKept).toBeGreaterThan(ITERATIONS / 50);
});
