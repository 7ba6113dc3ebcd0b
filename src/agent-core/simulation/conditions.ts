// Rule conditions (DESIGN: Virtual topology, Chain / Rule / Condition), compiled once per Rule
// object into a list of field tests read lazily through the FlowMatch (DESIGN: Flows, seen mask).
//
// Semantics chosen here:
// - Fields are tested in a fixed order and evaluation stops at the first failing test, so the
//   megaflow records only the fields that decided (a failing nwProto test never marks IpSrc).
// - A field's `invert` negates the field test among packets the field applies to: nwProto/nwTos
//   and tp/icmp fields apply to IP packets only, tpSrc/tpDst to TCP and UDP only, icmpType/icmpCode
//   to ICMP and ICMPv6 only, a v4 CIDR to IPv4 and ARP packets, a v6 CIDR to IPv6 packets. A packet
//   the field does not apply to fails it, inverted or not. The condition's `invert` negates the
//   whole result, so "not (tcp port 22)" is written with it.
// - Fragments: 'any' matches all; 'unfragmented' only whole datagrams; 'header' whole datagrams
//   and first fragments; 'nonheader' later fragments only. A condition that tests L4 fields
//   (tpSrc, tpDst, icmpType, icmpCode) and names no policy uses 'header': later fragments carry no
//   L4 header, so they never match an L4 test (as in MidoNet's FragmentPolicy). Inverted, a policy
//   matches the packets it leaves out: "not unfragmented" is every fragment, first or later;
//   "not any" matches nothing (validation refuses it).
// - connState is tested last, after the cheaper fields (a chain that tests it tracks every packet
//   anyway: chains.ts). Inverted, it is the other state.
import {
  parseCidr, parseMac, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FIELD_OFFSET, FRAG_LATER, FRAG_NONE, Field,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
} from '../packet/index.js';
import { invertibleOf, type Condition, type FragmentPolicy, type Id, type PortGroup, type PortRange, type Rule } from '../topology/types.js';
import type { SimContext } from './context.js';
import { connState } from './conntrack.js';
import { deviceTag } from './tags.js';

/** Result of a test: no match, match, or a device it needs is not loaded (ctx.missing says which). */
export const COND_NO = 0;
export const COND_YES = 1;
export const COND_NOT_YET = 2;
export type CondResult = typeof COND_NO | typeof COND_YES | typeof COND_NOT_YET;

type Test = (ctx: SimContext, deviceId: Id) => CondResult;

/**
 * What a field test does, for code that evaluates it inline (chain-code.ts): the same reads of the
 * match in the same order as the test's closure. Tests that consult the topology or the state
 * tables (port groups, connection state) have none.
 */
export type TestSpec =
  | { readonly k: 'eq'; readonly f: Field; readonly v: number; readonly inv: boolean }
  | { readonly k: 'ipField'; readonly f: Field; readonly v: number; readonly inv: boolean }
  | { readonly k: 'cidr4'; readonly f: Field; readonly mask: number; readonly net: number; readonly inv: boolean }
  | { readonly k: 'cidr6'; readonly f: Field; readonly masks: readonly number[]; readonly nets: readonly number[]; readonly inv: boolean }
  | { readonly k: 'tp'; readonly f: Field; readonly start: number; readonly end: number; readonly inv: boolean }
  | { readonly k: 'icmp'; readonly f: Field; readonly v: number; readonly inv: boolean }
  | { readonly k: 'frag'; readonly policy: FragTest }
  | { readonly k: 'ports'; readonly set: ReadonlySet<Id>; readonly inv: boolean; readonly out: boolean };

const specs = new WeakMap<Test, TestSpec>();

function withSpec(t: Test, spec: TestSpec): Test {
  specs.set(t, spec);
  return t;
}

export interface CompiledCondition {
  readonly tests: readonly Test[];
  /** Each test's spec, or undefined for a test that only its closure can evaluate. */
  readonly specs: readonly (TestSpec | undefined)[];
  readonly invert: boolean;
  /** The condition tests connection state: the chain holding it tracks every packet it sees. */
  readonly tracksConnections: boolean;
  /** Set when a value in the condition does not parse: the rule then never matches, inverted or not. */
  readonly broken: string | undefined;
}

const yes = (b: boolean): CondResult => (b ? COND_YES : COND_NO);

function isIpEt(et: number): boolean {
  return et === ETHERTYPE_IPV4 || et === ETHERTYPE_IPV6;
}

function portIdsTest(ids: readonly Id[], inv: boolean, out: boolean): Test {
  const set = new Set(ids);
  const spec: TestSpec = { k: 'ports', set, inv, out };
  if (out) return withSpec((ctx) => yes((ctx.outPortId !== undefined && set.has(ctx.outPortId)) !== inv), spec);
  return withSpec((ctx) => yes(set.has(ctx.inPortId) !== inv), spec);
}

const groupSets = new WeakMap<PortGroup, ReadonlySet<Id>>();

function portSetOf(g: PortGroup): ReadonlySet<Id> {
  let s = groupSets.get(g);
  if (s === undefined) {
    s = new Set(g.portIds);
    groupSets.set(g, s);
  }
  return s;
}

function portGroupTest(id: Id, inv: boolean, out: boolean): Test {
  const tag = deviceTag(id);
  return (ctx) => {
    const g = ctx.views.topology.portGroup(id);
    if (g === undefined) {
      ctx.notYet({ kind: 'device', objectType: 'portGroup', id });
      return COND_NOT_YET;
    }
    ctx.tag(tag);
    const port = out ? ctx.outPortId : ctx.inPortId;
    return yes((port !== undefined && portSetOf(g).has(port)) !== inv);
  };
}

/** A one-word field compared for equality, on any packet. */
function fieldEqualsTest(f: Field, v: number, inv: boolean): Test {
  return withSpec((ctx) => yes((ctx.match.get(f) === v) !== inv), { k: 'eq', f, v, inv });
}

/** A one-word IP header field (protocol, TOS) compared for equality, on IPv4/IPv6 packets. */
function ipFieldTest(f: Field, v: number, inv: boolean): Test {
  return withSpec((ctx) => {
    const m = ctx.match;
    if (!isIpEt(m.get(Field.EthType))) return COND_NO;
    return yes((m.get(f) === v) !== inv);
  }, { k: 'ipField', f, v, inv });
}

function cidrTest(f: Field, text: string, inv: boolean): Test | string {
  const c = parseCidr(text);
  if (c === undefined) return `bad CIDR ${text}`;
  if (typeof c.addr === 'number') {
    const mask = c.len === 0 ? 0 : (0xffffffff << (32 - c.len)) >>> 0;
    const net = (c.addr & mask) >>> 0;
    return withSpec((ctx) => {
      const m = ctx.match;
      const et = m.get(Field.EthType);
      if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_ARP) return COND_NO;
      return yes((((m.get(f) & mask) >>> 0) === net) !== inv);
    }, { k: 'cidr4', f, mask, net, inv });
  }
  // IPv6: compare word by word against the key's four words, with no bigint per packet.
  const masks: number[] = [];
  const nets: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, c.len - 32 * i));
    const mk = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    masks.push(mk);
    nets.push((Number((c.addr >> BigInt(96 - 32 * i)) & 0xffffffffn) & mk) >>> 0);
  }
  const off = FIELD_OFFSET[f];
  return withSpec((ctx) => {
    const m = ctx.match;
    if (m.get(Field.EthType) !== ETHERTYPE_IPV6) return COND_NO;
    m.get(f);
    const w = m.cur;
    let inside = true;
    for (let i = 0; i < 4 && inside; i++) inside = ((w[off + i] & masks[i]) >>> 0) === nets[i];
    return yes(inside !== inv);
  }, { k: 'cidr6', f, masks, nets, inv });
}

function tpTest(f: Field, r: PortRange, inv: boolean): Test {
  const { start, end } = r;
  return withSpec((ctx) => {
    const m = ctx.match;
    if (!isIpEt(m.get(Field.EthType))) return COND_NO;
    const p = m.get(Field.IpProto);
    if (p !== IPPROTO_TCP && p !== IPPROTO_UDP) return COND_NO;
    const v = m.get(f);
    return yes((v >= start && v <= end) !== inv);
  }, { k: 'tp', f, start, end, inv });
}

function icmpTest(f: Field, v: number, inv: boolean): Test {
  return withSpec((ctx) => {
    const m = ctx.match;
    const et = m.get(Field.EthType);
    if (!isIpEt(et)) return COND_NO;
    const p = m.get(Field.IpProto);
    if (et === ETHERTYPE_IPV4 ? p !== IPPROTO_ICMP : p !== IPPROTO_ICMPV6) return COND_NO;
    return yes((m.get(f) === v) !== inv);
  }, { k: 'icmp', f, v, inv });
}

/** The fragments a test lets through: the policies but 'any', and 'fragment' (first or later: "not unfragmented"). */
export type FragTest = Exclude<FragmentPolicy, 'any'> | 'fragment';

/** A policy as a test, after its invert; undefined when it matches nothing ('any' inverted). */
function fragTestOf(policy: FragmentPolicy, invert: boolean): FragTest | 'any' | undefined {
  if (!invert) return policy;
  switch (policy) {
    case 'any':
      return undefined;
    case 'unfragmented':
      return 'fragment';
    case 'header':
      return 'nonheader';
    case 'nonheader':
      return 'header';
  }
}

function fragmentTest(policy: FragTest): Test {
  const spec: TestSpec = { k: 'frag', policy };
  switch (policy) {
    case 'unfragmented':
      return withSpec((ctx) => yes(ctx.match.get(Field.IpFrag) === FRAG_NONE), spec);
    case 'header':
      return withSpec((ctx) => yes(ctx.match.get(Field.IpFrag) !== FRAG_LATER), spec);
    case 'nonheader':
      return withSpec((ctx) => yes(ctx.match.get(Field.IpFrag) === FRAG_LATER), spec);
    case 'fragment':
      return withSpec((ctx) => yes(ctx.match.get(Field.IpFrag) !== FRAG_NONE), spec);
  }
}

/** Compiles a condition: parses addresses once and lists the tests in evaluation order. */
export function compileCondition(c: Condition): CompiledCondition {
  const tests: Test[] = [];
  let broken: string | undefined;
  const inv = (x: { readonly invert?: boolean }): boolean => x.invert === true;
  const add = (t: Test | string): void => {
    if (typeof t === 'string') broken ??= t;
    else tests.push(t);
  };
  const mac = (f: Field, x: { readonly value: string; readonly invert?: boolean }): void => {
    const v = parseMac(x.value);
    add(v === undefined ? `bad MAC ${x.value}` : fieldEqualsTest(f, v, inv(x)));
  };
  if (c.inPorts) add(portIdsTest(c.inPorts.value, inv(c.inPorts), false));
  if (c.outPorts) add(portIdsTest(c.outPorts.value, inv(c.outPorts), true));
  if (c.ethType) add(fieldEqualsTest(Field.EthType, c.ethType.value, inv(c.ethType)));
  if (c.vlanId) add(fieldEqualsTest(Field.VlanId, c.vlanId.value, inv(c.vlanId)));
  if (c.ethSrc) mac(Field.EthSrc, c.ethSrc);
  if (c.ethDst) mac(Field.EthDst, c.ethDst);
  if (c.nwProto) add(ipFieldTest(Field.IpProto, c.nwProto.value, inv(c.nwProto)));
  if (c.nwTos) add(ipFieldTest(Field.IpTos, c.nwTos.value, inv(c.nwTos)));
  if (c.nwSrc) add(cidrTest(Field.IpSrc, c.nwSrc.value, inv(c.nwSrc)));
  if (c.nwDst) add(cidrTest(Field.IpDst, c.nwDst.value, inv(c.nwDst)));
  const testsL4 = c.tpSrc !== undefined || c.tpDst !== undefined || c.icmpType !== undefined || c.icmpCode !== undefined;
  const fragments = c.fragments === undefined ? undefined : invertibleOf(c.fragments);
  const frag = fragments === undefined ? (testsL4 ? 'header' : 'any') : fragTestOf(fragments.value, inv(fragments));
  if (frag === undefined) add("fragments 'any' inverted matches nothing");
  else if (frag !== 'any') add(fragmentTest(frag));
  if (c.tpSrc) add(tpTest(Field.L4Src, c.tpSrc.value, inv(c.tpSrc)));
  if (c.tpDst) add(tpTest(Field.L4Dst, c.tpDst.value, inv(c.tpDst)));
  if (c.icmpType) add(icmpTest(Field.L4Src, c.icmpType.value, inv(c.icmpType)));
  if (c.icmpCode) add(icmpTest(Field.L4Dst, c.icmpCode.value, inv(c.icmpCode)));
  if (c.inPortGroup) add(portGroupTest(c.inPortGroup.value, inv(c.inPortGroup), false));
  if (c.outPortGroup) add(portGroupTest(c.outPortGroup.value, inv(c.outPortGroup), true));
  const cs = c.connState === undefined ? undefined : invertibleOf(c.connState);
  if (cs !== undefined) {
    // Two states: "not forward" is return and the other way round.
    const want = inv(cs) ? (cs.value === 'forward' ? 'return' : 'forward') : cs.value;
    add((ctx, dev) => yes(connState(ctx, dev) === want));
  }
  return { tests, specs: tests.map((t) => specs.get(t)), invert: c.invert === true, tracksConnections: cs !== undefined, broken };
}

const compiled = new WeakMap<Rule, CompiledCondition>();

/** The rule's compiled condition, memoized by the rule object's identity (unchanged = same object). */
export function compiledConditionOf(rule: Rule): CompiledCondition {
  let cc = compiled.get(rule);
  if (cc === undefined) {
    cc = compileCondition(rule.condition);
    compiled.set(rule, cc);
  }
  return cc;
}

/** Evaluates a compiled condition against the packet at `deviceId` (the device whose chain runs). */
export function matchCondition(ctx: SimContext, cc: CompiledCondition, deviceId: Id): CondResult {
  if (cc.broken !== undefined) return COND_NO;
  const tests = cc.tests;
  for (let i = 0; i < tests.length; i++) {
    const r = tests[i](ctx, deviceId);
    if (r !== COND_YES) {
      if (r === COND_NOT_YET) return COND_NOT_YET;
      return cc.invert ? COND_YES : COND_NO;
    }
  }
  return cc.invert ? COND_NO : COND_YES;
}
