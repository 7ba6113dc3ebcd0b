// Chain evaluation: verdicts, continue, jump/return (nested), loops, missing objects, tags,
// an L4 port-range filter, rule updates and the evaluation cost of a long chain.
import fc from 'fast-check';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/agent-core/packet/flow-match.js';
import { MAX_JUMP_DEPTH, chainError, evaluateChain } from '../../../src/agent-core/simulation/chains.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import type { Condition, Rule } from '../../../src/agent-core/topology/types.js';
import { type PacketSpec, chain, chainWorld, context, packet, rule } from './chain-test-kit.js';

const ACCEPT = { kind: 'literal', action: 'accept' } as const;
const DROP = { kind: 'literal', action: 'drop' } as const;
const REJECT = { kind: 'literal', action: 'reject' } as const;
const CONTINUE = { kind: 'literal', action: 'continue' } as const;
const RETURN = { kind: 'literal', action: 'return' } as const;
const jump = (jumpChainId: string) => ({ kind: 'jump', jumpChainId }) as const;
const udp: Condition = { nwProto: { value: IPPROTO_UDP } };

function run(topo: InMemoryTopology, chainId: string | undefined, spec: PacketSpec = {}) {
  const ctx = context(topo, packet(spec));
  const verdict = evaluateChain(ctx, chainId, 'dev');
  return { verdict, ctx };
}

describe('chain verdicts', () => {
  it('no chain accepts', () => {
    expect(run(new InMemoryTopology(), undefined).verdict).toBe('accept');
  });

  it('an empty chain, or one where no rule matches, accepts', () => {
    expect(run(chainWorld('c', []), 'c').verdict).toBe('accept');
    expect(run(chainWorld('c', [[DROP, udp], [REJECT, udp]]), 'c').verdict).toBe('accept');
  });

  it('the first matching accept, drop or reject ends evaluation', () => {
    expect(run(chainWorld('c', [[ACCEPT], [DROP]]), 'c').verdict).toBe('accept');
    expect(run(chainWorld('c', [[DROP, udp], [REJECT], [ACCEPT]]), 'c').verdict).toBe('reject');
    expect(run(chainWorld('c', [[DROP], [ACCEPT]]), 'c').verdict).toBe('drop');
    expect(run(chainWorld('c', [[DROP], [ACCEPT]]), 'c', { proto: IPPROTO_UDP }).verdict).toBe('drop');
  });

  it('continue goes on to the next rule', () => {
    expect(run(chainWorld('c', [[CONTINUE], [DROP]]), 'c').verdict).toBe('drop');
    expect(run(chainWorld('c', [[CONTINUE]]), 'c').verdict).toBe('accept');
  });

  it('a return in the top-level chain accepts', () => {
    expect(run(chainWorld('c', [[RETURN], [DROP]]), 'c').verdict).toBe('accept');
  });

  it('a drop names the rule in the trace', () => {
    const { ctx } = run(chainWorld('c', [[DROP]]), 'c');
    expect(ctx.trace.join('\n')).toContain('c-r0 drop');
    expect(chainError(ctx)).toBeUndefined();
  });
});

describe('jump and return', () => {
  /** Chains main -> a -> b with the given rules; main's rules come first in `main`. */
  function world(main: Rule[], a: Rule[], b: Rule[] = []): InMemoryTopology {
    return new InMemoryTopology([
      chain('main', main.map((r) => r.id)), chain('a', a.map((r) => r.id)), chain('b', b.map((r) => r.id)), ...main, ...a, ...b,
    ]);
  }

  it("a jumped-to chain's verdict ends the whole evaluation", () => {
    const t = world([rule('m0', 'main', jump('a')), rule('m1', 'main', ACCEPT)], [rule('a0', 'a', DROP)]);
    expect(run(t, 'main').verdict).toBe('drop');
  });

  it('a jumped-to chain that runs out of rules resumes after the jump', () => {
    const t = world([rule('m0', 'main', jump('a')), rule('m1', 'main', REJECT)], [rule('a0', 'a', DROP, udp)]);
    expect(run(t, 'main').verdict).toBe('reject');
    expect(run(t, 'main', { proto: IPPROTO_UDP }).verdict).toBe('drop');
  });

  it('return leaves the jumped-to chain and resumes after the jump', () => {
    const t = world([rule('m0', 'main', jump('a')), rule('m1', 'main', REJECT)], [rule('a0', 'a', RETURN), rule('a1', 'a', DROP)]);
    expect(run(t, 'main').verdict).toBe('reject');
  });

  it('nested jumps: return from the innermost resumes the middle chain', () => {
    const t = world(
      [rule('m0', 'main', jump('a')), rule('m1', 'main', DROP)],
      [rule('a0', 'a', jump('b')), rule('a1', 'a', REJECT, udp), rule('a2', 'a', RETURN), rule('a3', 'a', ACCEPT)],
      [rule('b0', 'b', RETURN, udp), rule('b1', 'b', ACCEPT, { nwProto: { value: 99 } })],
    );
    // b returns (udp) or runs out (tcp); a rejects udp, returns tcp; main drops tcp.
    expect(run(t, 'main', { proto: IPPROTO_UDP }).verdict).toBe('reject');
    expect(run(t, 'main', { proto: IPPROTO_TCP }).verdict).toBe('drop');
    expect(run(t, 'main', { proto: 99 }).verdict).toBe('accept');
  });

  it('tags every chain evaluated, and only those', () => {
    const t = world([rule('m0', 'main', jump('a'), udp), rule('m1', 'main', jump('b'))], [], [rule('b0', 'b', RETURN)]);
    const tcp = run(t, 'main').ctx;
    expect([...tcp.tags].sort()).toEqual(['device:b', 'device:main']);
    const u = run(t, 'main', { proto: IPPROTO_UDP }).ctx;
    expect([...u.tags].sort()).toEqual(['device:a', 'device:b', 'device:main']);
  });

  it('a chain already on the jump stack is a loop: an error drop with a trace line', () => {
    const t = world([rule('m0', 'main', jump('a'))], [rule('a0', 'a', jump('b'))], [rule('b0', 'b', jump('main'))]);
    const { verdict, ctx } = run(t, 'main');
    expect(verdict).toBe('drop');
    expect(chainError(ctx)).toMatch(/main -> a -> b -> main/);
    expect(ctx.trace.some((l) => l.includes('jump loop'))).toBe(true);
    const self = new InMemoryTopology([chain('s', ['s0']), rule('s0', 's', jump('s'))]);
    expect(run(self, 's').verdict).toBe('drop');
  });

  it('jumps nested deeper than the limit are an error drop; at the limit they work', () => {
    const linear = (n: number): InMemoryTopology => {
      const objs = [];
      for (let i = 0; i < n; i++) {
        const r = i + 1 < n ? rule(`r${i}`, `c${i}`, jump(`c${i + 1}`)) : rule(`r${i}`, `c${i}`, REJECT);
        objs.push(chain(`c${i}`, [r.id]), r);
      }
      return new InMemoryTopology(objs);
    };
    expect(run(linear(MAX_JUMP_DEPTH), 'c0').verdict).toBe('reject');
    const deep = run(linear(MAX_JUMP_DEPTH + 1), 'c0');
    expect(deep.verdict).toBe('drop');
    expect(chainError(deep.ctx)).toMatch(/deeper/);
  });
});

describe('objects not loaded', () => {
  it('a missing chain answers notYet and names it', () => {
    const { verdict, ctx } = run(new InMemoryTopology(), 'nope');
    expect(verdict).toBe('notYet');
    expect(ctx.missing).toEqual([{ kind: 'device', objectType: 'chain', id: 'nope' }]);
  });

  it('missing rules are all named at once; rules before them still ran', () => {
    const t = new InMemoryTopology([chain('c', ['r0', 'r1', 'r2', 'r3']), rule('r0', 'c', CONTINUE), rule('r2', 'c', DROP)]);
    const { verdict, ctx } = run(t, 'c');
    expect(verdict).toBe('notYet');
    expect(ctx.missing).toEqual([{ kind: 'device', objectType: 'rule', id: 'r1' }, { kind: 'device', objectType: 'rule', id: 'r3' }]);
  });

  it('a rule that ends evaluation before a missing one does not wait for it', () => {
    const t = new InMemoryTopology([chain('c', ['r0', 'r1']), rule('r0', 'c', DROP)]);
    expect(run(t, 'c').verdict).toBe('drop');
  });

  it('a missing jump target answers notYet', () => {
    const t = new InMemoryTopology([chain('c', ['r0']), rule('r0', 'c', jump('gone'))]);
    const { verdict, ctx } = run(t, 'c');
    expect(verdict).toBe('notYet');
    expect(ctx.missing).toEqual([{ kind: 'device', objectType: 'chain', id: 'gone' }]);
  });
});

describe('a chain dropping by L4 port range', () => {
  const t = chainWorld('fw', [[DROP, { nwProto: { value: IPPROTO_TCP }, tpDst: { value: { start: 1000, end: 2000 } } }]]);

  it('boundaries are inclusive', () => {
    expect(run(t, 'fw', { dport: 999 }).verdict).toBe('accept');
    expect(run(t, 'fw', { dport: 1000 }).verdict).toBe('drop');
    expect(run(t, 'fw', { dport: 2000 }).verdict).toBe('drop');
    expect(run(t, 'fw', { dport: 2001 }).verdict).toBe('accept');
    expect(run(t, 'fw', { dport: 1500, proto: IPPROTO_UDP }).verdict).toBe('accept');
  });

  it('drops exactly the ports in range', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), (port) => {
      const dropped = run(t, 'fw', { dport: port }).verdict === 'drop';
      return dropped === (port >= 1000 && port <= 2000);
    }));
  });
});

describe('rule updates', () => {
  it('a replaced rule object is recompiled, not served from the chain cache', () => {
    const t = chainWorld('c', [[DROP, { tpDst: { value: { start: 80, end: 80 } } }]]);
    expect(run(t, 'c', { dport: 80 }).verdict).toBe('drop');
    t.put(rule('c-r0', 'c', DROP, { tpDst: { value: { start: 443, end: 443 } } }));
    expect(run(t, 'c', { dport: 80 }).verdict).toBe('accept');
    expect(run(t, 'c', { dport: 443 }).verdict).toBe('drop');
  });

  it('rules resolved once are reused only while the view\'s rule generation holds: a rule deep in the chain replaced or deleted is seen', () => {
    const rules: [typeof DROP, Condition][] = [];
    for (let i = 0; i < 60; i++) rules.push([DROP, { tpDst: { value: { start: 1000 + i, end: 1000 + i } } }]);
    const t = chainWorld('c', rules);
    for (let k = 0; k < 3; k++) expect(run(t, 'c', { dport: 80 }).verdict).toBe('accept');
    const before = t.ruleGeneration;
    t.put(rule('c-r50', 'c', DROP, { tpDst: { value: { start: 80, end: 80 } } }));
    expect(t.ruleGeneration).not.toBe(before);
    expect(run(t, 'c', { dport: 80 }).verdict).toBe('drop');
    t.delete('rule', 'c-r50');
    const { verdict, ctx } = run(t, 'c', { dport: 80 });
    expect(verdict).toBe('notYet');
    expect(ctx.missing).toEqual([{ kind: 'device', objectType: 'rule', id: 'c-r50' }]);
  });

  it('whether a chain tracks connections follows its rules: a rule replaced by one testing connection state makes the next packet tracked', () => {
    // The first rule accepts everything: the second is never evaluated, yet a chain that tests
    // connection state tracks every packet (so that its replies are recognised later).
    const t = chainWorld('c', [[ACCEPT], [CONTINUE, udp]]);
    const conntrackChanges = (ctx: ReturnType<typeof run>['ctx']) => ctx.stateChanges.filter((c) => c.kind === 'conntrack').length;
    for (let k = 0; k < 2; k++) expect(conntrackChanges(run(t, 'c', { proto: IPPROTO_TCP }).ctx)).toBe(0);
    t.put(rule('c-r1', 'c', CONTINUE, { connState: 'forward' }));
    expect(conntrackChanges(run(t, 'c', { proto: IPPROTO_TCP }).ctx)).toBe(1);
    t.put(rule('c-r1', 'c', CONTINUE, udp));
    expect(conntrackChanges(run(t, 'c', { proto: IPPROTO_TCP }).ctx)).toBe(0);
  });

  it('a view that cannot tell its rule generation gets every rule looked up each time', () => {
    const t = chainWorld('c', [[DROP, { tpDst: { value: { start: 80, end: 80 } } }]]);
    // A view with the same objects but no ruleGeneration (as a wrapper over storage would be).
    const plain = Object.create(t, { ruleGeneration: { value: undefined } }) as InMemoryTopology;
    expect(run(plain, 'c', { dport: 80 }).verdict).toBe('drop');
    t.put(rule('c-r0', 'c', DROP, { tpDst: { value: { start: 443, end: 443 } } }));
    expect(run(plain, 'c', { dport: 80 }).verdict).toBe('accept');
  });
});

describe('a long chain', () => {
  // Its speed is measured by bench:core (routed with SNAT through a 100-rule chain), not asserted here.
  it('a 100-rule chain that no rule matches accepts', () => {
    const rules: [typeof DROP, Condition][] = [];
    for (let i = 0; i < 100; i++) rules.push([DROP, { nwProto: { value: IPPROTO_UDP }, tpDst: { value: { start: i, end: i } } }]);
    const t = chainWorld('big', rules);
    const ctx = context(t, packet({}));
    expect(evaluateChain(ctx, 'big', 'dev')).toBe('accept');
  });
});
