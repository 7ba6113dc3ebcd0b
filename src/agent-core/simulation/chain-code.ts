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

export function chainCode(conds: readonly CompiledCondition[]): ChainCode {
  const sets: ReadonlySet<Id>[] = [];
  const simple: boolean[] = [];
  const cases: string[] = [];
  conds.forEach((cc, i) => {
    const body = cc.broken === undefined ? conditionCode(cc, sets) : undefined;
    simple.push(body !== undefined);
    cases.push(body === undefined ? `case ${i}: return ${i};` : `case ${i}: {\n let ok = false;\n c: {\n${body}\n ok = true;\n }\n if (ok !== ${cc.invert}) return ${i};\n}`);
  });
  const text = `return function scan(m, ctx, from) {\nswitch (from) {\n${cases.join('\n')}\n}\nreturn ${conds.length};\n};`;
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
      return `if ((m.get(${s.f}) === ${num(s.v)}) === ${s.inv}) break c;`;
    case 'ipField':
      if (!Number.isFinite(s.v)) return undefined;
      return `{ const et = m.get(${ET}); if (!${IS_IP}) break c; if ((m.get(${s.f}) === ${num(s.v)}) === ${s.inv}) break c; }`;
    case 'cidr4':
      return `{ const et = m.get(${ET}); if (et !== ${ETHERTYPE_IPV4} && et !== ${ETHERTYPE_ARP}) break c; if ((((m.get(${s.f}) & ${num(s.mask)}) >>> 0) === ${num(s.net)}) === ${s.inv}) break c; }`;
    case 'cidr6': {
      const off = FIELD_OFFSET[s.f]!;
      const inside = [0, 1, 2, 3].map((i) => `((w[${off + i}] & ${num(s.masks[i]!)}) >>> 0) === ${num(s.nets[i]!)}`).join(' && ');
      return `{ if (m.get(${ET}) !== ${ETHERTYPE_IPV6}) break c; m.get(${s.f}); const w = m.cur; if ((${inside}) === ${s.inv}) break c; }`;
    }
    case 'tp':
      if (!Number.isFinite(s.start) || !Number.isFinite(s.end)) return undefined;
      return `{ const et = m.get(${ET}); if (!${IS_IP}) break c; const p = m.get(${Field.IpProto}); if (p !== ${IPPROTO_TCP} && p !== ${IPPROTO_UDP}) break c; const v = m.get(${s.f}); if ((v >= ${num(s.start)} && v <= ${num(s.end)}) === ${s.inv}) break c; }`;
    case 'icmp':
      if (!Number.isFinite(s.v)) return undefined;
      return `{ const et = m.get(${ET}); if (!${IS_IP}) break c; const p = m.get(${Field.IpProto}); if (et === ${ETHERTYPE_IPV4} ? p !== ${IPPROTO_ICMP} : p !== ${IPPROTO_ICMPV6}) break c; if ((m.get(${s.f}) === ${num(s.v)}) === ${s.inv}) break c; }`;
    case 'frag': {
      const f = Field.IpFrag;
      if (s.policy === 'unfragmented') return `if (m.get(${f}) !== ${FRAG_NONE}) break c;`;
      if (s.policy === 'header') return `if (m.get(${f}) === ${FRAG_LATER}) break c;`;
      return `if (m.get(${f}) !== ${FRAG_LATER}) break c;`;
    }
    case 'ports': {
      const j = sets.push(s.set) - 1;
      return s.out
        ? `if ((ctx.outPortId !== undefined && sets[${j}].has(ctx.outPortId)) === ${s.inv}) break c;`
        : `if (sets[${j}].has(ctx.inPortId) === ${s.inv}) break c;`;
    }
  }
}
