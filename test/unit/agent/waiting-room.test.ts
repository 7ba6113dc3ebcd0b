import { WaitingRoom } from '../../../src/agent-core/agent/waiting-room.js';

test('released in arrival order under any of its keys, once', () => {
  const w = new WaitingRoom<string>();
  w.park(['a', 'b'], 'p1', 0);
  w.park(['a'], 'p2', 0);
  w.park(['b'], 'p3', 0);
  expect(w.release('b')).toEqual(['p1', 'p3']);
  expect(w.release('a')).toEqual(['p2']);
  expect(w.release('a')).toEqual([]);
  expect(w.length).toBe(0);
  expect(w.counters).toMatchObject({ parked: 3, released: 3 });
});

test('bounded overall and per key; the overflow is counted', () => {
  const w = new WaitingRoom<number>({ capacity: 3, perKey: 2 });
  expect(w.park(['k'], 1, 0)).toBe(true);
  expect(w.park(['k'], 2, 0)).toBe(true);
  expect(w.park(['k'], 3, 0)).toBe(false);
  expect(w.park(['j'], 4, 0)).toBe(true);
  expect(w.park(['i'], 5, 0)).toBe(false);
  expect(w.counters.overflowDropped).toBe(2);
  expect(w.park([], 6, 0)).toBe(false);
});

test('items past their timeout expire from every key', () => {
  const w = new WaitingRoom<string>({ timeoutMs: 100 });
  w.park(['a', 'b'], 'old', 0);
  w.park(['a'], 'new', 50);
  expect(w.expire(120)).toEqual(['old']);
  expect(w.release('b')).toEqual([]);
  expect(w.release('a')).toEqual(['new']);
  expect(w.counters.timedOut).toBe(1);
});
