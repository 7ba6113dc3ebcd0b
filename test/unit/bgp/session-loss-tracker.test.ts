// Early session-loss notice (src/bgp/session-loss-tracker.ts): a loss seen first on the peer-only
// stream suppresses the peer's table-stream paths until that stream reaches the same loss.
import { SessionLossTracker } from '../../../src/bgp/session-loss-tracker.js';

const P = '192.0.2.2';

test('a loss seen early suppresses the peer until the table stream reaches it', () => {
  const t = new SessionLossTracker();
  t.onEarly(P, true);
  t.onInOrder(P, true);
  expect(t.onEarly(P, false)).toBe(true);
  expect([t.isSuppressed(P), t.anySuppressed]).toEqual([true, true]);
  // The session comes back before the table stream caught up: still suppressed (its paths are old).
  expect(t.onEarly(P, true)).toBe(false);
  expect(t.isSuppressed(P)).toBe(true);
  t.onInOrder(P, false);
  expect([t.isSuppressed(P), t.anySuppressed]).toEqual([false, false]);
  t.onInOrder(P, true);
  expect(t.isSuppressed(P)).toBe(false);
});

test('a loss the table stream saw first is not acted on again, and suppresses nothing', () => {
  const t = new SessionLossTracker();
  t.onInOrder(P, true);
  t.onEarly(P, true);
  t.onInOrder(P, false);
  expect(t.onEarly(P, false)).toBe(false);
  expect(t.isSuppressed(P)).toBe(false);
});

test('initial states and repeated non-established states are not losses; reset forgets', () => {
  const t = new SessionLossTracker();
  expect(t.onEarly(P, false)).toBe(false);
  expect(t.onEarly(P, false)).toBe(false);
  expect(t.onEarly(P, true)).toBe(false);
  expect(t.onEarly(P, false)).toBe(true);
  t.reset();
  expect([t.isSuppressed(P), t.anySuppressed]).toEqual([false, false]);
  expect(t.onEarly('192.0.2.3', false)).toBe(false);
});
