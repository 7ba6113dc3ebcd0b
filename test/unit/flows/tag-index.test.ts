// TagIndex against a model (tag → set of items) under random adds (repeated tags, adding an item
// again), full and partial removes: get, has, size and tags() always agree.
import fc from 'fast-check';
import { TagIndex } from '../../../src/agent-core/flows/tag-index.js';

test('TagIndex agrees with a map of sets under any adds and removes', () => {
  const tag = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), item: fc.nat(7), tags: fc.array(tag, { maxLength: 6 }) }),
    fc.record({ kind: fc.constant('removeAll' as const), item: fc.nat(7) }),
    fc.record({ kind: fc.constant('removeSome' as const), item: fc.nat(7), tags: fc.array(tag, { maxLength: 4 }) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
    const items = Array.from({ length: 8 }, (_, id) => ({ id }));
    const idx = new TagIndex<{ id: number }>();
    /** What the index should hold, and the tags each item was added with (the array given to add). */
    const model = new Map<string, Set<number>>();
    const added = new Map<number, readonly string[]>();
    const drop = (id: number, tags: readonly string[]): void => {
      for (const t of tags) {
        model.get(t)?.delete(id);
        if (model.get(t)?.size === 0) model.delete(t);
      }
    };
    for (const o of ops) {
      if (o.kind === 'add') {
        idx.add(items[o.item]!, o.tags);
        for (const t of o.tags) {
          let s = model.get(t);
          if (s === undefined) model.set(t, (s = new Set()));
          s.add(o.item);
        }
        if (!added.has(o.item)) added.set(o.item, o.tags);
      } else if (o.kind === 'removeAll') {
        const tags = added.get(o.item);
        if (tags === undefined) continue;
        // The item's whole set of tags, whether given as the array first added or as a new list.
        const all = [...model].filter(([, s]) => s.has(o.item)).map(([t]) => t);
        idx.remove(items[o.item]!, all);
        drop(o.item, all);
        added.delete(o.item);
      } else {
        idx.remove(items[o.item]!, o.tags);
        drop(o.item, o.tags);
        if (![...model.values()].some((s) => s.has(o.item))) added.delete(o.item);
      }
      expect(idx.size).toBe(model.size);
      expect([...idx.tags()].sort()).toEqual([...model.keys()].sort());
      for (const t of ['a', 'b', 'c', 'd', 'e', 'f']) {
        expect(idx.get(t).map((i) => i.id).sort()).toEqual([...(model.get(t) ?? [])].sort());
        expect(idx.has(t)).toBe(model.has(t));
      }
    }
  }));
});

test('removing with the array the item was added with drops all of its tags', () => {
  const idx = new TagIndex<{ id: number }>();
  const flows = Array.from({ length: 100 }, (_, id) => ({ id, tags: ['device:x', `ct:${id}`, 'device:y', 'device:x'] }));
  for (const f of flows) idx.add(f, f.tags);
  expect(idx.get('device:x')).toHaveLength(100);
  for (const f of flows.filter((f) => f.id % 3 === 0)) idx.remove(f, f.tags);
  expect(idx.get('device:y').map((f) => f.id).sort((a, b) => a - b)).toEqual(flows.filter((f) => f.id % 3 !== 0).map((f) => f.id));
  for (const f of flows.filter((f) => f.id % 3 !== 0)) idx.remove(f, f.tags);
  expect(idx.size).toBe(0);
});
