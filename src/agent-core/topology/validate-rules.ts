// Validation of chains, rules and their conditions and NAT targets, and detection of jump loops
// between chains. DESIGN: Virtual topology (Chain / Rule / Condition, NAT rules).
import { isIp6 } from '../packet/addr.js';
import { validateCondition } from './validate-condition.js';
import {
  asArray,
  checkEnum,
  checkInt,
  checkIp,
  checkNoDuplicates,
  checkRef,
  familyName,
  show,
  type IssueSink,
} from './validate-common.js';
import type { Chain, Id, Rule, TopologyView } from './types.js';

const RULE_KINDS = ['literal', 'jump', 'nat', 'reverseNat', 'staticNat'] as const;
const LITERAL_ACTIONS = ['accept', 'drop', 'reject', 'continue', 'return'] as const;
const NAT_KINDS = ['snat', 'dnat'] as const;
const NAT_FOLLOW_UPS = ['accept', 'continue'] as const;
const L4_PORT_MAX = 65535;

export function validateChain(c: Chain, view: TopologyView | undefined, sink: IssueSink): void {
  const ruleIds = asArray(c.ruleIds);
  if (ruleIds === undefined) {
    sink.add('ruleIds', `${show(c.ruleIds)} is not a list`);
    return;
  }
  checkNoDuplicates(sink, 'ruleIds', ruleIds);
  ruleIds.forEach((rid, i) => {
    const field = `ruleIds[${i}]`;
    if (!checkRef(sink, field, rid, 'rule', undefined) || view === undefined) return;
    const rule = view.rule(rid as Id);
    if (rule === undefined) sink.add(field, `${show(rid)} names no rule`);
    else if (rule.chainId !== c.id) sink.add(field, `${show(rid)} is a rule of chain ${show(rule.chainId)}, not of this chain`);
  });
}

export function validateRule(r: Rule, view: TopologyView | undefined, sink: IssueSink): void {
  checkRef(sink, 'chainId', r.chainId, 'chain', view === undefined ? undefined : (id) => view.chain(id));
  if (typeof r.condition !== 'object' || r.condition === null) sink.add('condition', `${show(r.condition)} is not an object`);
  else validateCondition(r.condition, view, sink);
  switch (r.kind) {
    case 'literal':
      checkEnum(sink, 'action', r.action, LITERAL_ACTIONS);
      return;
    case 'jump':
      if (r.jumpChainId === undefined) sink.add('jumpChainId', 'is missing; a jump rule names the chain it jumps to');
      else checkRef(sink, 'jumpChainId', r.jumpChainId, 'chain', view === undefined ? undefined : (id) => view.chain(id));
      return;
    case 'nat':
      checkEnum(sink, 'nat', r.nat, NAT_KINDS);
      checkEnum(sink, 'then', r.then, NAT_FOLLOW_UPS);
      checkNatTargets(r.targets, sink);
      return;
    case 'reverseNat':
      checkEnum(sink, 'nat', r.nat, NAT_KINDS);
      checkEnum(sink, 'then', r.then, NAT_FOLLOW_UPS);
      return;
    case 'staticNat':
      checkEnum(sink, 'nat', r.nat, NAT_KINDS);
      checkEnum(sink, 'then', r.then, NAT_FOLLOW_UPS);
      checkIp(sink, 'address', r.address);
      return;
    default:
      checkEnum(sink, 'kind', (r as { kind?: unknown }).kind, RULE_KINDS);
  }
}

function checkNatTargets(value: unknown, sink: IssueSink): void {
  const targets = asArray(value);
  if (targets === undefined || targets.length === 0) {
    sink.add('targets', `${targets === undefined ? show(value) + ' is not a list' : 'is empty'}; a NAT rule needs at least one target`);
    return;
  }
  targets.forEach((t, i) => {
    const f = `targets[${i}]`;
    const target = (typeof t === 'object' && t !== null ? t : {}) as Record<string, unknown>;
    const from = checkIp(sink, `${f}.addressFrom`, target.addressFrom);
    const to = checkIp(sink, `${f}.addressTo`, target.addressTo);
    if (from !== undefined && to !== undefined) {
      if (isIp6(from) !== isIp6(to)) {
        sink.add(f, `mixes ${familyName(from)} and ${familyName(to)}: addressFrom ${show(target.addressFrom)}, addressTo ${show(target.addressTo)}`);
      } else if (isIp6(from)) {
        // The simulator's dynamic NAT (port leases, NAT keys) is IPv4 only: such a rule would never apply.
        sink.add(f, `is IPv6 (${show(target.addressFrom)}): dynamic NAT translates IPv4 only; for IPv6 use a staticNat rule or route the addresses`);
      } else if (from > to) {
        sink.add(f, `has an empty address range: addressFrom ${show(target.addressFrom)} is above addressTo ${show(target.addressTo)}`);
      }
    }
    const pFrom = checkInt(sink, `${f}.portFrom`, target.portFrom, 0, L4_PORT_MAX);
    const pTo = checkInt(sink, `${f}.portTo`, target.portTo, 0, L4_PORT_MAX);
    if (pFrom !== undefined && pTo !== undefined && pFrom > pTo) {
      sink.add(f, `has an empty port range: portFrom ${pFrom} is above portTo ${pTo}`);
    }
  });
}

/** Chains a chain jumps to, through the jump rules it lists (rules of other chains are ignored). */
export function jumpTargets(chain: Chain, view: TopologyView): Id[] {
  const out: Id[] = [];
  for (const rid of asArray(chain.ruleIds) ?? []) {
    const rule = typeof rid === 'string' ? view.rule(rid) : undefined;
    if (rule?.kind === 'jump' && rule.chainId === chain.id && typeof rule.jumpChainId === 'string') out.push(rule.jumpChainId);
  }
  return out;
}

/**
 * A path of jumps from `from` to `to` (both included), or undefined. `edgesOf` gives a chain's jump
 * targets, so callers can substitute an object not yet in the view.
 */
export function findJumpPath(from: Id, to: Id, edgesOf: (id: Id) => readonly Id[]): Id[] | undefined {
  const visited = new Set<Id>();
  const walk = (id: Id, path: Id[]): Id[] | undefined => {
    if (id === to) return path;
    if (visited.has(id)) return undefined;
    visited.add(id);
    for (const next of edgesOf(id)) {
      const found = walk(next, [...path, next]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  // Start from the targets of `from` so that a path back to `from` itself (a loop) is found.
  for (const next of edgesOf(from)) {
    const found = walk(next, [from, next]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Every jump loop among the given chains, each once: the ids along it, starting and ending with the
 * smallest id on the loop ("a → b → a"). Found by depth-first search over back edges.
 */
export function findJumpCycles(chainIds: Iterable<Id>, edgesOf: (id: Id) => readonly Id[]): Id[][] {
  const state = new Map<Id, 'open' | 'done'>();
  const found = new Map<string, Id[]>();
  const stack: Id[] = [];
  const visit = (id: Id): void => {
    state.set(id, 'open');
    stack.push(id);
    for (const next of edgesOf(id)) {
      const s = state.get(next);
      if (s === 'open') {
        const loop = stack.slice(stack.lastIndexOf(next));
        const canonical = rotateToSmallest(loop);
        const key = canonical.join('\u0000');
        if (!found.has(key)) found.set(key, [...canonical, canonical[0]]);
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of [...chainIds].sort()) if (!state.has(id)) visit(id);
  return [...found.values()];
}

function rotateToSmallest(loop: Id[]): Id[] {
  let min = 0;
  for (let i = 1; i < loop.length; i++) if (loop[i] < loop[min]) min = i;
  return [...loop.slice(min), ...loop.slice(0, min)];
}

export function formatJumpPath(path: readonly Id[]): string {
  return path.join(' → ');
}
