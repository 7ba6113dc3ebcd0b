// The megaflow table's helper indexes on their own: the deadline heap and the tag index.
import fc from 'fast-check';
import { ExpiryHeap } from '../../../src/agent-core/flows/expiry-heap.js';
import { TagIndex } from '../../../src/agent-core/flows/tag-index.js';

interface Item {
  name: number;
  deadline: number;
  heapPos: number;
}

test('ExpiryHeap pops the earliest deadline after any pushes, removals and updates', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), deadline: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), deadline: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ kind: fc.constant('pop' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), (ops) => {
      const heap = new ExpiryHeap<Item>();
      const model: Item[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.kind === 'push') {
          const item = { name: next++, deadline: 0, heapPos: -1 };
          heap.push(item, o.deadline);
          model.push(item);
        } else if (model.length > 0 && o.kind !== 'pop') {
          const item = model[o.pick % model.length];
          if (o.kind === 'remove') {
            expect(heap.remove(item)).toBe(true);
            expect(heap.remove(item)).toBe(false);
            model.splice(model.indexOf(item), 1);
          } else {
            heap.update(item, o.deadline);
          }
        } else if (o.kind === 'pop' && model.length > 0) {
          const top = heap.peek();
          expect(top?.deadline).toBe(Math.min(...model.map((i) => i.deadline)));
          if (top !== undefined) {
            heap.remove(top);
            model.splice(model.indexOf(top), 1);
          }
        }
        expect(heap.size).toBe(model.length);
        expect(heap.peek()?.deadline).toBe(model.length === 0 ? undefined : Math.min(...model.map((i) => i.deadline)));
      }
    }),
  );
});

test('TagIndex keeps one flow without a Set, and forgets tags with no flows left', () => {
  const idx = new TagIndex<{ id: number }>();
  const a = { id: 1 };
  const b = { id: 2 };
  const c = { id: 3 };
  idx.add(a, ['shared', 'only-a']);
  idx.add(b, ['shared']);
  idx.add(c, ['shared', 'only-c']);
  idx.add(c, ['shared']); // twice: still once
  expect(idx.get('shared')).toEqual([a, b, c]);
  expect(idx.get('only-a')).toEqual([a]);
  expect(idx.size).toBe(3);
  idx.remove(b, ['shared']);
  idx.remove(a, ['shared', 'only-a']);
  expect(idx.get('shared')).toEqual([c]);
  expect(idx.has('only-a')).toBe(false);
  idx.add(a, ['shared']);
  expect(idx.get('shared')).toEqual([c, a]);
  idx.remove(a, ['shared']);
  idx.remove(c, ['shared', 'only-c']);
  idx.remove(c, ['never-added']);
  expect(idx.size).toBe(0);
  expect([...idx.tags()]).toEqual([]);
  expect(idx.get('shared')).toEqual([]);
});
