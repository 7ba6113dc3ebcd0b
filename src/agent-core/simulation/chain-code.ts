// Generated scan code for a chain (DESIGN: Chain / Rule / Condition; Flows, seen mask): the field
// tests of every rule written out in order in one function, instead of one closure call per test
// through a call site that sees every kind of test. Each test reads the match exactly as its
// closure in conditions.ts does (same fields, same order, same early exits), so the fields marked
// seen are the same. Rules with a test only a closure can run (port groups, connection state) or a
// broken condition stop the scan for the interpreter. The code is built from field numbers and
// numbers of the parsed conditions only, never from input text; tests compare it with the closures.
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FIELD_OFFSET, FRAG_LATER, FRAG_NONE, Field, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../packet/index.js';
import type { FlowMatch } from '../packet/index.js';
import type { Id } from '../topology/types.js';
import type { CompiledCondition, TestSpec } from './conditions.js';

/** The ports a port test needs of the context. */
export interface ScanContext {
  readonly inPortId: Id;
  readonly outPortId?: Id;
}

/**
 * From rule `from` on, the index of the first rule whose condition holds or that the interpreter
 * must evaluate (see `simple`); the rule count when there is none.
 */
export type ChainScan = (m: FlowMatch, ctx: ScanContext, from: number) => number;

export interface ChainCode {
  readonly scan: ChainScan;
  /** Rules whose condition the scan evaluates itself (a scan stopping there means a match). */
  readonly simple: readonly boolean[];
}

/** Chains are rarely rebuilt; the bound only guards against unbounded growth. */
const CACHE_LIMIT = 512;
const factories = new Map<string, (sets: readonly ReadonlySet<Id>[]) => ChainScan>();

const num = (x: number): string => String(x);
const bit = (f: Field): number => 1 << f;
/**
 * FlowMatch.get(f) written out: the field's bit noted in `seenBits` (added to the match's seen mask,
 * less its modified fields, when the scan returns) and the word read from `cur`. A method call per
 * test was the scan's main cost: too many call sites in one function for the compiler to inline.
 */
const rd = (f: Field): string => `(seenBits |= ${bit(f)}, cur[${FIELD_OFFSET[f]!}])`;
/** Returns `value` after handing the scan's reads to the match (FlowMatch.get's rule: modified fields are not seen). */
const ret = (value: string | number): string => `{ m.seen |= seenBits & ~m.modified; return ${value}; }`;

export function chainCode(conds: readonly CompiledCondition[]): ChainCode {
  const sets: ReadonlySet<Id>[] = [];
  const simple: boolean[] = [];
  const cases: string[] = [];
  conds.forEach((cc, i) => {
    const body = cc.broken === undefined ? conditionCode(cc, sets) : undefined;
    simple.push(body !== undefined);
    cases.push(body === undefined ? `case ${i}: ${ret(i)}` : `case ${i}: {\n let ok = false;\n c: {\n${body}\n ok = true;\n }\n if (ok !== ${cc.invert}) ${ret(i)}\n}`);
  });
  const text = `return function scan(m, ctx, from) {\nconst cur = m.cur;\nlet seenBits = 0;\nswitch (from) {\n${cases.join('\n')}\n}\n${ret(conds.length)}\n};`;
  let factory = factories.get(text);
  if (factory === undefined) {
    if (factories.size >= CACHE_LIMIT) factories.clear();
    // Function() compiles code made of field numbers and parsed numbers only (see the file comment).
    factory = new Function('sets', text) as (sets: readonly ReadonlySet<Id>[]) => ChainScan;
    factories.set(text, factory);
  }
  return { scan: factory(sets), simple };
}

/** The condition's tests as code that breaks out of block `c` at the first failing one; undefined if one has no spec. */
function conditionCode(cc: CompiledCondition, sets: ReadonlySet<Id>[]): string | undefined {
  const parts: string[] = [];
  for (const spec of cc.specs) {
    const code = spec === undefined ? undefined : testCode(spec, sets);
    if (code === undefined) return undefined;
    parts.push(code);
  }
  return parts.join('\n');
}

const ET = Field.EthType;
const IS_IP = `(et === ${ETHERTYPE_IPV4} || et === ${ETHERTYPE_IPV6})`;

function testCode(s: TestSpec, sets: ReadonlySet<Id>[]): string | undefined {
  switch (s.k) {
    case 'eq':
      if (!Number.isFinite(s.v)) return undefined;
      return `if ((${rd(s.f)} === ${num(s.v)}) === ${s.inv}) break c;`;
    case 'ipField':
      if (!Number.isFinite(s.v)) return undefined;
      return `{ const et = ${rd(ET)}; if (!${IS_IP}) break c; if ((${rd(s.f)} === ${num(s.v)}) === ${s.inv}) break c; }`;
    case 'cidr4':
      return `{ const et = ${rd(ET)}; if (et !== ${ETHERTYPE_IPV4} && et !== ${ETHERTYPE_ARP}) break c; if ((((${rd(s.f)} & ${num(s.mask)}) >>> 0) === ${num(s.net)}) === ${s.inv}) break c; }`;
    case 'cidr6': {
      const off = FIELD_OFFSET[s.f]!;
      const inside = [0, 1, 2, 3].map((i) => `((w[${off + i}] & ${num(s.masks[i]!)}) >>> 0) === ${num(s.nets[i]!)}`).join(' && ');
      return `{ if (${rd(ET)} !== ${ETHERTYPE_IPV6}) break c; seenBits |= ${bit(s.f)}; const w = cur; if ((${inside}) === ${s.inv}) break c; }`;
    }
    case 'tp':
      if (!Number.isFinite(s.start) || !Number.isFinite(s.end)) return undefined;
      return `{ const et = ${rd(ET)}; if (!${IS_IP}) break c; const p = ${rd(Field.IpProto)}; if (p !== ${IPPROTO_TCP} && p !== ${IPPROTO_UDP}) break c; const v = ${rd(s.f)}; if ((v >= ${num(s.start)} && v <= ${num(s.end)}) === ${s.inv}) break c; }`;
    case 'icmp':
      if (!Number.isFinite(s.v)) return undefined;
      return `{ const et = ${rd(ET)}; if (!${IS_IP}) break c; const p = ${rd(Field.IpProto)}; if (et === ${ETHERTYPE_IPV4} ? p !== ${IPPROTO_ICMP} : p !== ${IPPROTO_ICMPV6}) break c; if ((${rd(s.f)} === ${num(s.v)}) === ${s.inv}) break c; }`;
    case 'frag': {
      const f = Field.IpFrag;
      if (s.policy === 'unfragmented') return `if (${rd(f)} !== ${FRAG_NONE}) break c;`;
      if (s.policy === 'header') return `if (${rd(f)} === ${FRAG_LATER}) break c;`;
      if (s.policy === 'fragment') return `if (${rd(f)} === ${FRAG_NONE}) break c;`;
      return `if (${rd(f)} !== ${FRAG_LATER}) break c;`;
    }
    case 'ports': {
      const j = sets.push(s.set) - 1;
      return s.out
        ? `if ((ctx.outPortId !== undefined && sets[${j}].has(ctx.outPortId)) === ${s.inv}) break c;`
        : `if (sets[${j}].has(ctx.inPortId) === ${s.inv}) break c;`;
    }
  }
}
