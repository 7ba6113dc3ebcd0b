// LocalTables keeps conntrack keys and NAT bindings in expiry order so that expire() reads only what
// is due: whatever order the clock comes in (a restore, refreshes, a clock that steps back), what
// expires and when is what a full scan of every entry would say.
import fc from 'fast-check';
import { LocalTables } from '../../../src/agent-core/agent/local-tables.js';

const IDLE = 1000;

test('expiry matches a full scan of every entry, for any order of applies, refreshes and restores', () => {
  const step = fc.oneof(
    fc.record({ kind: fc.constant('ct' as const), key: fc.integer({ min: 0, max: 30 }), at: fc.integer({ min: -50, max: 400 }) }),
    fc.record({ kind: fc.constant('nat' as const), key: fc.integer({ min: 0, max: 30 }), at: fc.integer({ min: -50, max: 400 }) }),
    fc.record({ kind: fc.constant('restore' as const), key: fc.integer({ min: 31, max: 40 }), remaining: fc.integer({ min: 1, max: 2 * IDLE }) }),
    fc.record({ kind: fc.constant('expire' as const), advance: fc.integer({ min: 0, max: 600 }) }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
    const t = new LocalTables(IDLE);
    const model = new Map<string, number>();
    let clock = 0;
    for (const s of steps) {
      if (s.kind === 'ct' || s.kind === 'nat') {
        const now = clock + s.at;
        const change = s.kind === 'ct' ? { kind: 'conntrack' as const, key: `k${s.key}` } : { kind: 'nat' as const, key: `n${s.key}`, binding: { ip: 9, port: 1000 + s.key }, deviceId: 'r' };
        t.apply([change], now);
        model.set(s.kind === 'ct' ? `ct:k${s.key}` : `nat:n${s.key}`, now + IDLE);
      } else if (s.kind === 'restore') {
        const tag = `ct:k${s.key}`;
        const restored = t.restore({ conntrack: [[`k${s.key}`, s.remaining]], nat: [] }, clock);
        expect(restored).toBe(model.has(tag) ? 0 : 1);
        if (!model.has(tag)) model.set(tag, clock + s.remaining);
      } else {
        clock += s.advance;
        const due = [...model].filter(([, at]) => at <= clock).map(([tag]) => tag).sort();
        for (const tag of due) model.delete(tag);
        expect(t.expire(clock).sort()).toEqual(due);
      }
    }
    expect(t.counts().conntrack + t.counts().nat).toBe(model.size);
  }));
});
