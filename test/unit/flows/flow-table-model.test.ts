// Property test: random sequences of installs, lookups, hits, deletes, invalidations and expiry
// give the same answers from the megaflow table as from the linear-scan reference.
import fc from 'fast-check';
import { KEY_WORDS } from '../../../src/agent-core/packet/flow-match.js';
import { type Flow, type FlowTable, LinearFlowTable, MegaflowTable } from '../../../src/agent-core/flows/index.js';
import { L2_MASK, ROUTED_MASK, TUPLE_MASK, maskOf } from './keys.js';
import { Field } from '../../../src/agent-core/packet/flow-match.js';

/** Masks that overlap in every way: subsets, supersets, equal field counts, the empty mask. */
const MASKS = [
  0,
  L2_MASK,
  ROUTED_MASK,
  TUPLE_MASK,
  maskOf(Field.InPort),
  maskOf(Field.InPort, Field.EthType, Field.IpSrc),
  maskOf(Field.EthSrc, Field.EthDst, Field.ArpSha),
  maskOf(Field.InPort, Field.IpDst, Field.NdTarget, Field.TunnelKey),
];
const TAGS = ['device:a', 'device:b', 'route:r', 'mac:x', 'ct:1', 'ct:2'];

/** Few distinct values per word, so that keys collide under masks; big ones test exactness. */
const wordValue = fc.constantFrom(0, 1, 2, 0xffffffff, 2 ** 47 + 1, 2 ** 47 + 2 ** 32 + 1);
const baseKeyArb = fc.array(wordValue, { minLength: KEY_WORDS, maxLength: KEY_WORDS });
/** Variations of one base key in a few words each, so that many flows match one key. */
const keysArb = fc
  .tuple(baseKeyArb, fc.array(fc.array(fc.tuple(fc.nat(KEY_WORDS - 1), wordValue), { maxLength: 3 }), { minLength: 2, maxLength: 8 }))
  .map(([base, edits]) =>
    edits.map((edit) => {
      const k = Float64Array.from(base);
      for (const [w, v] of edit) k[w] = v;
      return k;
    }),
  );

type Op =
  | { kind: 'install'; key: number; mask: number; tags: string[]; idle: number; hard: number; priority: number }
  | { kind: 'lookup'; key: number }
  | { kind: 'batch'; keys: number[] }
  | { kind: 'hit'; flow: number; dt: number }
  | { kind: 'delete'; flow: number }
  | { kind: 'invalidate'; tags: string[] }
  | { kind: 'expire'; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      key: fc.nat(),
      mask: fc.nat(MASKS.length - 1),
      tags: fc.subarray(TAGS),
      idle: fc.constantFrom(0, 0, 100, 250),
      hard: fc.constantFrom(0, 0, 300, 1000),
      priority: fc.constantFrom(0, 0, 0, 1, 2),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constant('lookup' as const), key: fc.nat() }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('hit' as const), flow: fc.nat(), dt: fc.nat(50) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), flow: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('invalidate' as const), tags: fc.subarray(TAGS, { maxLength: 2 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.nat(200) }), weight: 1 },
);

const ids = (flows: readonly (Flow<number> | undefined)[]): (number | undefined)[] => flows.map((f) => f?.id);

test('MegaflowTable answers like LinearFlowTable', () => {
  fc.assert(
    fc.property(keysArb, fc.array(opArb, { minLength: 40, maxLength: 200 }), (keys, ops) => {
      const mega = new MegaflowTable<number>();
      const linear = new LinearFlowTable<number>();
      const tables: FlowTable<number>[] = [mega, linear];
      // Flows installed so far, by install order, as each table returned them.
      const installed: [Flow<number>, Flow<number>][] = [];
      let now = 0;
      for (const op of ops) {
        switch (op.kind) {
          case 'install': {
            const opts = { idleMs: op.idle, hardMs: op.hard, priority: op.priority };
            const [a, b] = tables.map((t) => t.install(keys[op.key % keys.length], MASKS[op.mask], installed.length, op.tags, opts, now));
            expect(a.id).toBe(b.id);
            installed.push([a, b]);
            break;
          }
          case 'lookup': {
            const key = keys[op.key % keys.length];
            expect(mega.lookup(key)?.id).toBe(linear.lookup(key)?.id);
            expect(mega.lookupActions(key)).toBe(linear.lookup(key)?.actions);
            break;
          }
          case 'hit':
          case 'delete': {
            if (installed.length === 0) break;
            const [a, b] = installed[op.flow % installed.length];
            if (op.kind === 'hit') {
              now += op.dt;
              expect(mega.hit(a, 1, 100, now)).toBe(linear.hit(b, 1, 100, now));
            } else {
              expect(mega.delete(a)).toBe(linear.delete(b));
            }
            break;
          }
          case 'invalidate':
            expect(ids(mega.invalidateTags(op.tags))).toEqual(ids(linear.invalidateTags(op.tags)));
            break;
          case 'expire':
            now += op.dt;
            expect(ids(mega.expire(now))).toEqual(ids(linear.expire(now)));
            break;
        }
        expect(mega.size).toBe(linear.size);
        expect(mega.masks).toBe(linear.masks);
      }
      const { lookups, hits, installs, replacements, deletions, invalidations, expirations } = linear.stats();
      expect(mega.stats()).toMatchObject({ lookups, hits, installs, replacements, deletions, invalidations, expirations });
      expect([...mega].map((f) => f.id).sort((x, y) => x - y)).toEqual([...linear].map((f) => f.id).sort((x, y) => x - y));
      for (const f of mega) {
        const twin = installed.find(([a]) => a === f)?.[1];
        expect(twin).toBeDefined();
        expect(f.key()).toEqual(twin?.key());
        expect([f.packets, f.bytes, f.lastUsed]).toEqual([twin?.packets, twin?.bytes, twin?.lastUsed]);
      }
      // Removing what is left empties every index.
      mega.expire(Number.MAX_SAFE_INTEGER);
      for (const f of [...mega]) mega.delete(f);
      expect(mega.indexSizes()).toEqual({ subtables: 0, probeOrder: 0, tags: 0, deadlines: 0 });
    }),
    { numRuns: 300 },
  );
});
