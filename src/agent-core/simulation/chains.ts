// Rule chains (DESIGN: Virtual topology, Chain / Rule / Condition): ordered rules with accept, drop,
// reject, continue, jump and return, NAT rules, and loop protection for jumps.
//
// accept, drop and reject end the whole evaluation (also from inside a jumped-to chain). A jumped-to
// chain that ends by `return` or by running out of rules resumes its caller after the jump; the
// top-level chain running out of rules accepts. Flows tag every chain evaluated ("device:<id>");
// rules are not tagged one by one: a rule carries its chainId, so a rule change invalidates
// "device:<rule.chainId>".
//
// A chain that tests connection state anywhere (also through its jumps) tracks every packet it
// sees at its device, before its first rule: as Linux conntrack tracks a connection whatever rule
// lets it out, so that "accept return flows, drop the rest" on an uplink lets replies in to the
// connections opened from inside, which never reach that rule themselves.
import type { Chain, Id, Rule } from '../topology/types.js';
import type { SimContext } from './context.js';
import type { DropCause } from './types.js';
import { type ChainCode, chainCode } from './chain-code.js';
import { COND_NO, COND_NOT_YET, type CompiledCondition, type CondResult, compiledConditionOf, matchCondition } from './conditions.js';
import { connState } from './conntrack.js';
import { applyNatRule } from './nat.js';
import { deviceTag } from './tags.js';

export type ChainVerdict = 'accept' | 'drop' | 'reject' | 'notYet';

/** Deepest jump nesting allowed; deeper is treated as a loop (an error drop). */
export const MAX_JUMP_DEPTH = 16;

/** What a chain run ends with: a verdict for the whole evaluation, or "back to the caller". */
type RunResult = ChainVerdict | 'return';

/** A chain's rules as last seen, with their compiled conditions, to skip re-compiling per packet. */
interface ChainCache {
  readonly tag: string;
  readonly rules: (Rule | undefined)[];
  readonly conds: (CompiledCondition | undefined)[];
  /** The view's rule generation at which `rules[0 .. verified)` were looked up (-1: none). */
  generation: number;
  verified: number;
  /** Whether the chain tests connection state, known at rule generation `tracksGeneration` (jump-free, complete chains only). */
  tracks: boolean;
  tracksGeneration: number;
  /** The chain's rules as generated code (chain-code.ts), built once all were looked up at `codeGeneration`. */
  code: ChainCode | undefined;
  codeGeneration: number;
}

const chainCaches = new WeakMap<Chain, ChainCache>();
const chainErrors = new WeakMap<SimContext, { readonly reason: string; readonly cause?: DropCause }>();

/**
 * Why the last chain evaluation of this run dropped as an error (a jump loop or a jump too deep, no
 * SNAT port to be had), or undefined when its drops were ordinary rule verdicts. The caller reports
 * such a drop as an error (short-lived error flow).
 */
export function chainError(ctx: SimContext): string | undefined {
  return chainErrors.get(ctx)?.reason;
}

/** The cause of the last chain evaluation's error drop, when the shell counts it apart (see DropCause). */
export function chainErrorCause(ctx: SimContext): DropCause | undefined {
  return chainErrors.get(ctx)?.cause;
}

/**
 * Evaluates a chain for the packet in `ctx` at device `deviceId` (whose id keys conntrack and NAT
 * state). Undefined chainId = no chain = accept. A chain, rule or jump target that is not loaded
 * is recorded in ctx.missing and the answer is 'notYet'.
 */
export function evaluateChain(ctx: SimContext, chainId: Id | undefined, deviceId: Id): ChainVerdict {
  if (chainId === undefined) return 'accept';
  chainErrors.delete(ctx);
  if (tracksConnections(ctx, chainId, [])) connState(ctx, deviceId);
  const r = runChain(ctx, chainId, deviceId, []);
  return r === 'return' ? 'accept' : r;
}

function cacheOf(chain: Chain): ChainCache {
  let c = chainCaches.get(chain);
  if (c === undefined) {
    c = { tag: deviceTag(chain.id), rules: new Array(chain.ruleIds.length), conds: new Array(chain.ruleIds.length), generation: -1, verified: 0, tracks: false, tracksGeneration: -1, code: undefined, codeGeneration: -1 };
    chainCaches.set(chain, c);
  }
  return c;
}

function errorDrop(ctx: SimContext, why: string, cause?: DropCause): ChainVerdict {
  chainErrors.set(ctx, cause === undefined ? { reason: why } : { reason: why, cause });
  if (ctx.tracing) ctx.trace.push(`chain error: ${why}`);
  return 'drop';
}

/** Records every rule of the chain that is not loaded from index `from` on, so one fetch gets them all. */
function missingRules(ctx: SimContext, chain: Chain, from: number): ChainVerdict {
  const topology = ctx.views.topology;
  for (let i = from; i < chain.ruleIds.length; i++) {
    const id = chain.ruleIds[i];
    if (topology.rule(id) === undefined) ctx.notYet({ kind: 'device', objectType: 'rule', id });
  }
  return 'notYet';
}

/** The rule's compiled condition, compiled once per Rule object and remembered per position. */
function conditionAt(cache: ChainCache, i: number, rule: Rule): CompiledCondition {
  let cond = cache.conds[i];
  if (cache.rules[i] !== rule || cond === undefined) {
    cond = compiledConditionOf(rule);
    cache.rules[i] = rule;
    cache.conds[i] = cond;
  }
  return cond;
}

/** Whether the chain or a chain it jumps to tests connection state. Missing parts count as no. */
function tracksConnections(ctx: SimContext, chainId: Id, visited: Id[]): boolean {
  if (visited.includes(chainId)) return false;
  visited.push(chainId);
  const topology = ctx.views.topology;
  const chain = topology.chain(chainId);
  if (chain === undefined) return false;
  const cache = cacheOf(chain);
  const generation = topology.ruleGeneration;
  if (generation !== undefined && cache.tracksGeneration === generation) return cache.tracks;
  const ids = chain.ruleIds;
  // The answer is kept for this rule generation when it depends on this chain's rules alone.
  let local = true;
  let tracks = false;
  for (let i = 0; i < ids.length && !tracks; i++) {
    const rule = topology.rule(ids[i]);
    if (rule === undefined) {
      local = false;
      continue;
    }
    if (conditionAt(cache, i, rule).tracksConnections) tracks = true;
    else if (rule.kind === 'jump') {
      local = false;
      if (tracksConnections(ctx, rule.jumpChainId, visited)) tracks = true;
    }
  }
  if (local && generation !== undefined) {
    cache.tracks = tracks;
    cache.tracksGeneration = generation;
  }
  return tracks;
}

function runChain(ctx: SimContext, chainId: Id, deviceId: Id, stack: Id[]): RunResult {
  if (stack.includes(chainId)) return errorDrop(ctx, `jump loop: ${[...stack, chainId].join(' -> ')}`);
  if (stack.length >= MAX_JUMP_DEPTH) return errorDrop(ctx, `jumps nested deeper than ${MAX_JUMP_DEPTH} at ${chainId}`);
  const topology = ctx.views.topology;
  const chain = topology.chain(chainId);
  if (chain === undefined) {
    ctx.notYet({ kind: 'device', objectType: 'chain', id: chainId });
    return 'notYet';
  }
  const cache = cacheOf(chain);
  ctx.tag(cache.tag);
  const ids = chain.ruleIds;
  // Rules looked up at the view's current rule generation are still the ones it holds.
  const generation = topology.ruleGeneration;
  if (generation === undefined || cache.generation !== generation) {
    cache.generation = generation ?? -1;
    cache.verified = 0;
  }
  if (generation !== undefined && cache.verified === ids.length) {
    if (cache.codeGeneration !== generation) {
      cache.code = chainCode(cache.conds as CompiledCondition[]);
      cache.codeGeneration = generation;
    }
    return runScanned(ctx, cache, cache.code!, chainId, deviceId, stack);
  }
  for (let i = 0; i < ids.length; i++) {
    let rule: Rule | undefined;
    if (i < cache.verified) {
      rule = cache.rules[i]!;
    } else {
      rule = topology.rule(ids[i]);
      if (rule === undefined) return missingRules(ctx, chain, i);
      if (generation !== undefined && i === cache.verified) cache.verified = i + 1;
    }
    const hit = interpretCondition(ctx, rule, conditionAt(cache, i, rule), deviceId);
    if (hit === COND_NO) continue;
    if (hit === COND_NOT_YET) return 'notYet';
    const r = applyRule(ctx, rule, chainId, deviceId, stack);
    if (r !== undefined) return r;
  }
  return 'return';
}

/** A rule's condition through its closures; a broken one is traced as never matching. */
function interpretCondition(ctx: SimContext, rule: Rule, cond: CompiledCondition, deviceId: Id): CondResult {
  const hit = matchCondition(ctx, cond, deviceId);
  if (ctx.tracing && hit === COND_NO && cond.broken !== undefined) ctx.trace.push(`rule ${rule.id}: never matches: ${cond.broken}`);
  return hit;
}

/** runChain over rules all looked up at this generation: the generated scan, the interpreter where it stops on a complex rule. */
function runScanned(ctx: SimContext, cache: ChainCache, code: ChainCode, chainId: Id, deviceId: Id, stack: Id[]): RunResult {
  const n = code.simple.length;
  for (let i = code.scan(ctx.match, ctx, 0); i < n; i = code.scan(ctx.match, ctx, i + 1)) {
    const rule = cache.rules[i]!;
    if (!code.simple[i]) {
      const hit = interpretCondition(ctx, rule, cache.conds[i]!, deviceId);
      if (hit === COND_NO) continue;
      if (hit === COND_NOT_YET) return 'notYet';
    }
    const r = applyRule(ctx, rule, chainId, deviceId, stack);
    if (r !== undefined) return r;
  }
  return 'return';
}

/** Runs a matching rule's action; undefined = go on with the next rule. */
function applyRule(ctx: SimContext, rule: Rule, chainId: Id, deviceId: Id, stack: Id[]): RunResult | undefined {
  switch (rule.kind) {
    case 'literal':
      if (rule.action === 'continue') return undefined;
      if (ctx.tracing && rule.action !== 'return') ctx.trace.push(`chain ${chainId}: rule ${rule.id} ${rule.action}`);
      return rule.action;
    case 'jump': {
      stack.push(chainId);
      const r = runChain(ctx, rule.jumpChainId, deviceId, stack);
      stack.pop();
      return r === 'return' ? undefined : r;
    }
    default: {
      const r = applyNatRule(ctx, rule, deviceId);
      if (r === 'skip') return undefined;
      if (r === 'exhausted') return errorDrop(ctx, `rule ${rule.id}: no SNAT port free on any target address`, 'snatExhausted');
      if (r === 'applied') return rule.then === 'accept' ? 'accept' : undefined;
      return r;
    }
  }
}
