// Compiled rewrite plans (packet/rewrite-plan.ts) give exactly applyModificationsInPlace's bytes, or its
// error, for any frame and any rewrites, with or without a layout handed in; checksums the frame
// carried wrong stay as wrong as the one-word updates leave them.
import fc from 'fast-check';
import {
  type FrameInit, type HeaderModification, Field, FrameLayout, applyModificationsInPlace, applyRewritePlan, compileRewritePlan,
  encodeFrame, isDecodeError, parseLayout,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import { checksumMismatches } from './reference.js';
import { echo4Frame, tcp4Frame, udp4Frame } from './samples.js';

const echoFrames = fc.tuple(A.ip4Frame, fc.constantFrom(0, 8)).map(([f, t]): FrameInit => (f.l4?.kind === 'icmp4' ? { ...f, l4: { ...f.l4, type: t } } : f));

/** Rewrites of the IPv4 fast set mostly, some that fall back, some with values out of range. */
const mod: fc.Arbitrary<HeaderModification> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.EthSrc, Field.EthDst), value: A.mac }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.IpSrc, Field.IpDst), value: A.ip4 }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.L4Src, Field.L4Dst, Field.IcmpId), value: A.u16 }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'decTtl' as const }) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.IpSrc, Field.IpDst), value: A.ip6 }),
      fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.IpTos, Field.VlanId), value: A.u8 }),
      fc.record({ kind: fc.constant('setField' as const), field: fc.constantFrom(Field.L4Src, Field.IcmpId), value: A.u32 }),
      fc.record({ kind: fc.constant('setField' as const), field: fc.constant(Field.EthSrc), value: fc.constant(2 ** 48) }),
      fc.record({ kind: fc.constant('pushVlan' as const), vlanId: fc.integer({ min: 0, max: 0xfff }) }),
      fc.constant({ kind: 'popVlan' as const }),
    ),
  },
);

/** The frame's IPv4 header and L4 checksums set to any value (wrong ones included), so canonical forms are exercised. */
function withChecksums(b: Uint8Array, ipCk: number, l4Ck: number): Uint8Array {
  const L = new FrameLayout();
  if (!parseLayout(b, L) || L.ipVersion !== 4) return b;
  b[L.l3 + 10] = ipCk >> 8;
  b[L.l3 + 11] = ipCk & 0xff;
  const at = L.l4 < 0 ? -1 : L.proto === 6 ? L.l4 + 16 : L.proto === 17 ? L.l4 + 6 : L.proto === 1 ? L.l4 + 2 : -1;
  if (at >= 0 && at + 2 <= L.l3End) {
    b[at] = l4Ck >> 8;
    b[at + 1] = l4Ck & 0xff;
  }
  return b;
}

test('a plan gives applyModificationsInPlace\'s bytes or error, with and without a layout', () => {
  const frames = fc.oneof(A.ip4Frame, echoFrames, A.ip6Frame, A.arpFrame, A.rawFrame);
  const checksums = fc.option(fc.tuple(fc.constantFrom(0, 0xffff, 1), fc.constantFrom(0, 0xffff, 0xfffe)), { nil: undefined });
  fc.assert(
    fc.property(frames, fc.array(mod, { minLength: 1, maxLength: 6 }), checksums, (f, mods, cks) => {
      let input = encodeFrame(f);
      if (cks !== undefined) input = withChecksums(input, cks[0], cks[1]);
      const expected = applyModificationsInPlace(input.slice(), mods);
      const plan = compileRewritePlan(mods);
      const plain = applyRewritePlan(input.slice(), plan);
      const L = new FrameLayout();
      const withLayoutInput = input.slice();
      const withLayout = parseLayout(withLayoutInput, L) ? applyRewritePlan(withLayoutInput, plan, L) : plain;
      for (const got of [plain, withLayout]) {
        if (isDecodeError(expected)) expect(got).toEqual(expected);
        else expect(isDecodeError(got) ? got : Array.from(got)).toEqual(Array.from(expected));
      }
    }),
    { numRuns: 3000 },
  );
});

describe('the IPv4 fast set', () => {
  test('SNAT with decTtl and MACs: one plan, the frame changed in place, every checksum right', () => {
    for (const frame of [udp4Frame(), tcp4Frame()]) {
      const plan = compileRewritePlan([
        { kind: 'setField', field: Field.EthSrc, value: 0x02aabbccddee },
        { kind: 'setField', field: Field.EthDst, value: 0x02bbccddeeff },
        { kind: 'decTtl' },
        { kind: 'setField', field: Field.IpSrc, value: 0xcb007101 },
        { kind: 'setField', field: Field.L4Src, value: 61000 },
      ]);
      expect(plan.ip4).toBeDefined();
      expect(plan.keepsLayout).toBe(true);
      const out = applyRewritePlan(frame, plan);
      expect(out).toBe(frame);
      expect(checksumMismatches(frame)).toEqual([]);
    }
  });

  test('an echo id and address rewrite keep the ICMP checksum right (no pseudo-header)', () => {
    const frame = echo4Frame();
    const plan = compileRewritePlan([
      { kind: 'setField', field: Field.IpSrc, value: 0xcb007101 },
      { kind: 'setField', field: Field.IcmpId, value: 4242 },
    ]);
    expect(plan.ip4).toBeDefined();
    expect(applyRewritePlan(frame, plan)).toBe(frame);
    expect(checksumMismatches(frame)).toEqual([]);
  });

  test('checksum edge cases equal the one-word updates: UDP computing to 0, a word rewritten to itself, a zero sum', () => {
    const same = (frame: Uint8Array, mods: HeaderModification[]): void => {
      const expected = applyModificationsInPlace(frame.slice(), mods);
      const got = applyRewritePlan(frame.slice(), compileRewritePlan(mods));
      expect(isDecodeError(got) || isDecodeError(expected)).toBe(false);
      expect(Array.from(got as Uint8Array)).toEqual(Array.from(expected as Uint8Array));
    };
    // UDP: adding the old checksum to a covered word makes the sum all ones; 0 goes out as 0xffff (RFC 768).
    const u = udp4Frame();
    let p = u[34] * 256 + u[35] + u[40] * 256 + u[41];
    p = (p & 0xffff) + (p >>> 16);
    same(u, [{ kind: 'setField', field: Field.L4Src, value: p }]);
    applyRewritePlan(u, compileRewritePlan([{ kind: 'setField', field: Field.L4Src, value: p }]));
    expect([u[40], u[41]]).toEqual([0xff, 0xff]);
    // A checksum of 0xffff (never computed, but it may arrive) stays when the only rewrite changes nothing.
    const t = withChecksums(tcp4Frame(), 0xffff, 0xffff);
    const src = t[26] * 0x1000000 + t[27] * 0x10000 + t[28] * 0x100 + t[29];
    same(t, [{ kind: 'setField', field: Field.IpSrc, value: src }]);
    // From 0xffff, a word going from 0xffff to 0 sums to zero: the one-word update gives 0.
    const z = withChecksums(tcp4Frame(), 0x1234, 0xffff);
    z[34] = 0xff;
    z[35] = 0xff;
    same(z, [{ kind: 'setField', field: Field.L4Src, value: 0 }]);
  });

  test('rewrites outside the fast set and VLAN pushes take the general path', () => {
    expect(compileRewritePlan([{ kind: 'setField', field: Field.IpTos, value: 4 }]).ip4).toBeUndefined();
    const push = compileRewritePlan([{ kind: 'pushVlan', vlanId: 5 }]);
    expect(push.ip4).toBeUndefined();
    expect(push.keepsLayout).toBe(false);
    const frame = udp4Frame();
    const out = applyRewritePlan(frame, push);
    expect(isDecodeError(out) ? out : out.length).toBe(frame.length + 4);
  });
});
