// Restart delays of the gobgpd supervisor (src/bgp/backoff.ts).
import { backoffDelay } from '../../../src/bgp/index.js';

test('delays double from the initial one up to the cap', () => {
  expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, { initialMs: 100, maxMs: 1000 }))).toEqual([100, 200, 400, 800, 1000]);
  expect(backoffDelay(10_000)).toBe(30_000);
  expect(backoffDelay(-3, { initialMs: 50 })).toBe(50);
  expect(backoffDelay(2, { initialMs: 10, factor: 3, maxMs: 1e6 })).toBe(90);
});
