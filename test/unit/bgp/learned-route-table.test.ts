// The importer's table (src/bgp/learned-route-table.ts): best paths and equal-cost sets become
// learned routes, replaced per prefix, withdrawn with their session, re-imported when settings
// change, and bounded by 'drop' limits; checked case by case and against a model with fast-check.
import fc from 'fast-check';
import type { LearnedRoute } from '../../../src/agent-core/store/index.js';
import { LearnedRouteTable, type ImportDelta, type ImportPeer, type WatchedPath } from '../../../src/bgp/index.js';

const A: ImportPeer = { address: '192.0.2.2', uplinkPortId: 'up-a', useNextHop: false };
const B: ImportPeer = { address: '192.0.2.3', uplinkPortId: 'up-b', useNextHop: false };
const V6: ImportPeer = { address: '2001:db8:5::2', uplinkPortId: 'up-a', useNextHop: false };

function path(prefix: string, peer: string, over: Partial<WatchedPath> = {}): WatchedPath {
  return { family: prefix.includes(':') ? 'ipv6' : 'ipv4', prefix, withdraw: false, peer, nextHop: peer, ...over };
}

/** A table plus the store state its deltas build up (route key → route). */
function harness(peers: ImportPeer[]) {
  const table = new LearnedRouteTable(peers);
  const store = new Map<string, LearnedRoute>();
  const crossed: ImportDelta['crossed'] = [];
  const apply = (fill: (d: ImportDelta) => void): ImportDelta => {
    const d: ImportDelta = { add: [], remove: [], crossed: [] };
    fill(d);
    for (const r of d.remove) {
      const k = `${r.dst} ${r.gateway} ${r.egressPortId}`;
      if (!store.delete(k)) throw new Error(`removed a route that was not there: ${k}`);
    }
    for (const r of d.add) {
      const k = `${r.dst} ${r.gateway} ${r.egressPortId}`;
      if (store.has(k)) throw new Error(`added a route twice: ${k}`);
      store.set(k, r);
    }
    crossed.push(...d.crossed);
    return d;
  };
  return { table, store, crossed, apply, routes: () => [...store.keys()].sort() };
}

test('a best path becomes a route via the peer on its uplink port; a new best replaces it', () => {
  const h = harness([A, B]);
  h.apply((d) => h.table.applyPaths([path('198.51.100.0/24', A.address)], d));
  expect(h.routes()).toEqual(['198.51.100.0/24 192.0.2.2 up-a']);
  const d = h.apply((d) => h.table.applyPaths([path('198.51.100.0/24', B.address)], d));
  expect(d.remove).toHaveLength(1);
  expect(h.routes()).toEqual(['198.51.100.0/24 192.0.2.3 up-b']);
  // The same best again (e.g. new attributes): nothing to write.
  const same = h.apply((d) => h.table.applyPaths([path('198.51.100.0/24', B.address, { nextHop: '192.0.2.99' })], d));
  expect([same.add.length, same.remove.length]).toEqual([0, 0]);
  h.apply((d) => h.table.applyPaths([path('198.51.100.0/24', B.address, { withdraw: true })], d));
  expect(h.routes()).toEqual([]);
  expect(h.table.prefixCount).toBe(0);
});

test('multipath: the event carries the whole equal-cost set of a prefix', () => {
  const h = harness([A, B]);
  h.apply((d) => h.table.applyPaths([path('198.18.0.0/24', A.address), path('198.18.0.0/24', B.address), path('198.18.1.0/24', A.address)], d));
  expect(h.routes()).toEqual(['198.18.0.0/24 192.0.2.2 up-a', '198.18.0.0/24 192.0.2.3 up-b', '198.18.1.0/24 192.0.2.2 up-a']);
  h.apply((d) => h.table.applyPaths([path('198.18.0.0/24', B.address)], d));
  expect(h.routes()).toEqual(['198.18.0.0/24 192.0.2.3 up-b', '198.18.1.0/24 192.0.2.2 up-a']);
});

test('our own paths and unknown peers are not imported, and a local best removes a learned one', () => {
  const h = harness([A]);
  h.apply((d) => h.table.applyPaths([path('203.0.113.0/24', '<nil>'), path('198.51.100.0/24', '192.0.2.77'), path('198.51.100.128/25', A.address)], d));
  expect(h.routes()).toEqual(['198.51.100.128/25 192.0.2.2 up-a']);
  expect(h.table.skippedUnknownPeer).toBe(1);
  h.apply((d) => h.table.applyPaths([path('198.51.100.128/25', '')], d));
  expect(h.routes()).toEqual([]);
});

test('gateway: the peer when on-link and of the same family, else the BGP next hop', () => {
  const multihop: ImportPeer = { address: '198.51.100.7', uplinkPortId: 'up-m', useNextHop: true };
  const h = harness([multihop, A]);
  h.apply((d) =>
    h.table.applyPaths(
      [
        path('203.0.113.0/24', multihop.address, { nextHop: '192.0.2.254' }),
        path('2001:db8:300::/48', A.address, { nextHop: '2001:db8:5::9' }), // IPv6 over an IPv4 session
        path('2001:db8:400::/48', A.address, { nextHop: '::ffff:192.0.2.2'.replace('::ffff:', '') }), // no IPv6 next hop
      ],
      d,
    ),
  );
  expect(h.routes()).toEqual(['2001:db8:300::/48 2001:db8:5::9 up-a', '203.0.113.0/24 192.0.2.254 up-m']);
  expect(h.table.skippedNoNextHop).toBe(1);
});

test('session down withdraws exactly that peer, other paths of its prefixes stay', () => {
  const h = harness([A, B, V6]);
  h.apply((d) =>
    h.table.applyPaths([path('198.18.0.0/24', A.address), path('198.18.0.0/24', B.address), path('198.18.1.0/24', A.address), path('2001:db8:100::/48', V6.address)], d),
  );
  h.apply((d) => h.table.dropPeer(A.address, d));
  expect(h.routes()).toEqual(['198.18.0.0/24 192.0.2.3 up-b', '2001:db8:100::/48 2001:db8:5::2 up-a']);
  expect(h.table.countsOf(A.address)).toEqual({ imported: 0, held: 0 });
  h.apply((d) => h.table.clear(d));
  expect(h.routes()).toEqual([]);
});

test('a complete table (initial watch event) drops prefixes that vanished meanwhile', () => {
  const h = harness([A]);
  h.apply((d) => h.table.applyPaths([path('198.18.0.0/24', A.address), path('198.18.1.0/24', A.address)], d));
  h.apply((d) => h.table.retainOnly(new Set(['198.18.1.0/24']), d));
  expect(h.routes()).toEqual(['198.18.1.0/24 192.0.2.2 up-a']);
});

test('changed peer settings re-import that peer; a removed peer is withdrawn', () => {
  const h = harness([A, B]);
  h.apply((d) => h.table.applyPaths([path('198.18.0.0/24', A.address), path('198.18.1.0/24', B.address)], d));
  h.apply((d) => h.table.setPeers([{ ...A, uplinkPortId: 'up-a2' }], d));
  expect(h.routes()).toEqual(['198.18.0.0/24 192.0.2.2 up-a2']);
  // Multihop now: the gateway becomes the path's next hop, kept from the event.
  h.apply((d) => h.table.applyPaths([path('198.18.0.0/24', A.address, { nextHop: '192.0.2.250' })], d));
  h.apply((d) => h.table.setPeers([{ ...A, uplinkPortId: 'up-a2', useNextHop: true }], d));
  expect(h.routes()).toEqual(['198.18.0.0/24 192.0.2.250 up-a2']);
});

test("'drop' holds the excess back and promotes it when room is made; 'warn' only reports", () => {
  const limited: ImportPeer = { ...A, maxPrefixes: { limit: 2, action: 'drop' } };
  const h = harness([limited]);
  const prefixes = ['198.18.0.0/24', '198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24'];
  h.apply((d) => h.table.applyPaths(prefixes.map((p) => path(p, A.address)), d));
  expect(h.routes()).toHaveLength(2);
  expect(h.table.countsOf(A.address)).toEqual({ imported: 2, held: 2 });
  expect(h.crossed).toEqual([{ peer: A.address, family: 'ipv4', limit: 2, action: 'drop' }]);
  const imported = h.routes().map((r) => r.split(' ')[0]!);
  h.apply((d) => h.table.applyPaths([path(imported[0]!, A.address, { withdraw: true })], d));
  expect(h.routes()).toHaveLength(2);
  expect(h.routes().map((r) => r.split(' ')[0])).not.toContain(imported[0]);
  expect(h.table.countsOf(A.address)).toEqual({ imported: 2, held: 1 });
  // A held prefix that is withdrawn just leaves the held set.
  const held = prefixes.find((p) => p !== imported[0] && !h.routes().some((r) => r.startsWith(`${p} `)))!;
  h.apply((d) => h.table.applyPaths([path(held, A.address, { withdraw: true })], d));
  expect(h.table.countsOf(A.address)).toEqual({ imported: 2, held: 0 });

  const warn = harness([{ ...A, maxPrefixes: { limit: 1, action: 'warn' } }]);
  warn.apply((d) => warn.table.applyPaths(prefixes.map((p) => path(p, A.address)), d));
  expect(warn.routes()).toHaveLength(4);
  expect(warn.crossed).toHaveLength(1);
  // Once back under the limit, crossing it again is reported again.
  warn.apply((d) => warn.table.applyPaths(prefixes.slice(1).map((p) => path(p, A.address, { withdraw: true })), d));
  warn.apply((d) => warn.table.applyPaths([path('198.18.9.0/24', A.address)], d));
  expect(warn.crossed).toHaveLength(2);
});

test('two peers yielding the same route (same next hop and port) keep it until both are gone', () => {
  const rr1: ImportPeer = { address: '198.51.100.1', uplinkPortId: 'up-a', useNextHop: true };
  const rr2: ImportPeer = { address: '198.51.100.2', uplinkPortId: 'up-a', useNextHop: true };
  const h = harness([rr1, rr2]);
  h.apply((d) => h.table.applyPaths([path('203.0.113.0/24', rr1.address, { nextHop: '192.0.2.9' }), path('203.0.113.0/24', rr2.address, { nextHop: '192.0.2.9' })], d));
  expect(h.routes()).toEqual(['203.0.113.0/24 192.0.2.9 up-a']);
  h.apply((d) => h.table.dropPeer(rr1.address, d));
  expect(h.routes()).toEqual(['203.0.113.0/24 192.0.2.9 up-a']);
  h.apply((d) => h.table.dropPeer(rr2.address, d));
  expect(h.routes()).toEqual([]);
});

// --- model check ---

const PEERS = [A, B, { ...V6, address: '192.0.2.4', uplinkPortId: 'up-c' }];
const PREFIXES = ['198.18.0.0/24', '198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24', '198.18.4.0/24'];
type Op = { kind: 'event'; sets: [number, number[]][] } | { kind: 'drop'; peer: number } | { kind: 'limit'; limit: number | undefined };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('event' as const), sets: fc.array(fc.tuple(fc.nat(PREFIXES.length - 1), fc.uniqueArray(fc.nat(PEERS.length), { maxLength: 3 })), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), peer: fc.nat(PEERS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('limit' as const), limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }) },
);

test('model: the store always holds the routes of the current best sets, within the drop limit', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      let peers: ImportPeer[] = PEERS;
      const h = harness(peers);
      /** prefix → peer indexes of its current best set (index PEERS.length = an unknown peer). */
      const best = new Map<string, number[]>();
      for (const op of ops) {
        if (op.kind === 'event') {
          const paths: WatchedPath[] = [];
          for (const [pi, set] of op.sets) {
            const prefix = PREFIXES[pi]!;
            if (paths.some((p) => p.prefix === prefix)) continue;
            best.set(prefix, set);
            if (set.length === 0) paths.push(path(prefix, A.address, { withdraw: true }));
            for (const i of set) paths.push(path(prefix, i < PEERS.length ? PEERS[i]!.address : '192.0.2.200'));
          }
          h.apply((d) => h.table.applyPaths(paths, d));
        } else if (op.kind === 'drop') {
          for (const [prefix, set] of best) best.set(prefix, set.filter((i) => i !== op.peer));
          h.apply((d) => h.table.dropPeer(PEERS[op.peer]!.address, d));
        } else {
          peers = PEERS.map((p) => (op.limit === undefined ? p : { ...p, maxPrefixes: { limit: op.limit, action: 'drop' } }));
          h.apply((d) => h.table.setPeers(peers, d));
        }
        // Invariants after every step.
        const expected = new Set<string>();
        for (const [prefix, set] of best) for (const i of set) if (i < PEERS.length) expected.add(`${prefix} ${PEERS[i]!.address} ${PEERS[i]!.uplinkPortId}`);
        const actual = h.routes();
        for (const r of actual) if (!expected.has(r)) return false;
        for (const [i, p] of peers.entries()) {
          const mine = [...expected].filter((r) => r.includes(` ${PEERS[i]!.address} `)).length;
          const counts = h.table.countsOf(p.address)!;
          const limit = p.maxPrefixes?.limit ?? Infinity;
          if (counts.imported !== actual.filter((r) => r.includes(` ${p.address} `)).length) return false;
          if (counts.imported + counts.held !== mine) return false;
          if (counts.imported !== Math.min(mine, limit)) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 },
  );
});
