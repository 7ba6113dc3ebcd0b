// The SNAT port index of one NAT IP: a picked port is always free, in range and in a held block;
// one is found whenever any is free; the same state and hash give the same port; the counts agree
// with a plain model of used ports.
import fc from 'fast-check';
import { NAT_BLOCK_SIZE, NatPortIndex, blockOfPort } from '../../../src/agent-core/store/nat-port-index.js';

const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), block: fc.integer({ min: 16, max: 40 }) }),
  fc.record({ kind: fc.constant('delete' as const), block: fc.integer({ min: 16, max: 40 }) }),
  fc.record({ kind: fc.constant('use' as const), port: fc.integer({ min: 16 * 64, max: 41 * 64 - 1 }) }),
  fc.record({ kind: fc.constant('free' as const), port: fc.integer({ min: 16 * 64, max: 41 * 64 - 1 }) }),
  fc.record({ kind: fc.constant('pick' as const), from: fc.integer({ min: 1000, max: 2700 }), span: fc.integer({ min: 0, max: 600 }), hash: fc.integer() }),
);

test('picks agree with a model of held blocks and used ports', () => {
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    const idx = new NatPortIndex();
    const held = new Set<number>();
    const used = new Set<number>();
    for (const o of ops) {
      if (o.kind === 'add') {
        idx.add(o.block);
        held.add(o.block);
      } else if (o.kind === 'delete') {
        expect(idx.delete(o.block)).toBe(held.delete(o.block));
        for (const p of [...used]) if (blockOfPort(p) === o.block) used.delete(p);
      } else if (o.kind === 'use') {
        const expected = held.has(blockOfPort(o.port)) && !used.has(o.port);
        expect(idx.markUsed(o.port)).toBe(expected);
        if (expected) used.add(o.port);
      } else if (o.kind === 'free') {
        expect(idx.markFree(o.port)).toBe(used.delete(o.port));
      } else {
        const to = o.from + o.span;
        const p = idx.pick(o.from, to, o.hash);
        let anyFree = false;
        for (const b of held) for (let q = Math.max(b * NAT_BLOCK_SIZE, o.from); q <= Math.min(b * NAT_BLOCK_SIZE + 63, to); q++) if (!used.has(q)) anyFree = true;
        if (!anyFree) expect(p).toBeUndefined();
        else {
          expect(p).toBeDefined();
          expect(p!).toBeGreaterThanOrEqual(o.from);
          expect(p!).toBeLessThanOrEqual(to);
          expect(held.has(blockOfPort(p!))).toBe(true);
          expect(used.has(p!)).toBe(false);
          expect(idx.pick(o.from, to, o.hash)).toBe(p);
        }
      }
      expect(idx.freePorts).toBe(held.size * NAT_BLOCK_SIZE - used.size);
      expect(idx.blockNumbers()).toEqual([...held].sort((a, b) => a - b));
    }
    for (const b of held) expect(idx.usedPorts(b)).toEqual([...used].filter((p) => blockOfPort(p) === b).sort((x, y) => x - y));
  }));
});

test('different hashes spread over the blocks and over the ports of a block', () => {
  const idx = new NatPortIndex();
  for (const b of [16, 17, 18, 19]) idx.add(b);
  const picked = new Set<number>();
  for (let h = 0; h < 400; h++) picked.add(idx.pick(1024, 65535, h * 2654435761)!);
  expect(new Set([...picked].map(blockOfPort)).size).toBe(4);
  expect(picked.size).toBeGreaterThan(100);
});

test('a full block is skipped without a scan of its ports; the last free port is found', () => {
  const idx = new NatPortIndex();
  idx.add(16);
  idx.add(17);
  for (let p = 16 * 64; p < 18 * 64; p++) if (p !== 17 * 64 + 40) idx.markUsed(p);
  for (let h = 0; h < 50; h++) expect(idx.pick(1, 65535, h)).toBe(17 * 64 + 40);
  idx.markUsed(17 * 64 + 40);
  expect(idx.pick(1, 65535, 3)).toBeUndefined();
  expect(idx.freePorts).toBe(0);
});
