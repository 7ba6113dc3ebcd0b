// Validation of chains, rules, conditions, NAT targets and jump loops.
import {
  InMemoryTopology,
  validateObject,
  validateTopology,
  type Chain,
  type Condition,
  type Rule,
} from '../../../src/agent-core/topology/index.js';
import { bridge, bridgePort, expectIssue, messages } from './helpers.js';

const chain = (id: string, ruleIds: string[]): Chain => ({ type: 'chain', id, ruleIds });
const accept = (id: string, chainId: string, condition: Condition = {}): Rule => ({ id, chainId, condition, kind: 'literal', action: 'accept' });
const jump = (id: string, chainId: string, jumpChainId: string): Rule => ({ id, chainId, condition: {}, kind: 'jump', jumpChainId });
const snat = (targets: Extract<Rule, { kind: 'nat' }>['targets']): Rule => ({
  id: 'r1',
  chainId: 'c1',
  condition: {},
  kind: 'nat',
  nat: 'snat',
  targets,
  then: 'accept',
});
const target = { addressFrom: '198.51.100.10', addressTo: '198.51.100.20', portFrom: 1024, portTo: 65535 };

describe('chains', () => {
  it('refuses a ruleId naming a missing rule or a rule of another chain', () => {
    const view = new InMemoryTopology([chain('c1', ['r1']), chain('c2', ['r2']), accept('r1', 'c1'), accept('r2', 'c2')]);
    expectIssue(validateObject(chain('c1', ['r1', 'r9']), view), 'chain c1: ruleIds[1] "r9" names no rule');
    expectIssue(validateObject(chain('c1', ['r1', 'r2']), view), 'chain c1: ruleIds[1] "r2" is a rule of chain "c2", not of this chain');
    expect(validateObject(chain('c1', ['r1']), view)).toEqual([]);
  });

  it('refuses a rule listed twice', () => {
    expectIssue(validateObject(chain('c1', ['r1', 'r1'])), 'ruleIds[1] "r1" is listed twice');
  });

  it('reports a rule its chain does not list (never evaluated)', () => {
    const issues = validateTopology([chain('c1', []), accept('r1', 'c1')]);
    expectIssue(issues, 'rule r1: chainId "c1" does not list this rule in its ruleIds');
    expect(validateTopology([chain('c1', ['r1']), accept('r1', 'c1')])).toEqual([]);
  });
});

describe('jumps', () => {
  it('refuses a jump to a missing chain', () => {
    const view = new InMemoryTopology([chain('c1', ['r1'])]);
    expectIssue(validateObject(jump('r1', 'c1', 'c9'), view), 'rule r1: jumpChainId "c9" names no chain');
    expectIssue(validateObject(jump('r1', 'c9', 'c1'), view), 'rule r1: chainId "c9" names no chain');
  });

  it('reports each jump loop of a topology once, from its smallest chain id', () => {
    const loop = [chain('c1', ['j1']), chain('c2', ['j2']), jump('j1', 'c1', 'c2'), jump('j2', 'c2', 'c1')];
    const issues = validateTopology(loop);
    expect(messages(issues)).toEqual(['chain c1: ruleIds jump in a loop: c1 → c2 → c1']);
    expect(issues[0]).toMatchObject({ objectType: 'chain', id: 'c1', field: 'ruleIds' });
  });

  it('reports a chain jumping to itself and two separate loops', () => {
    const objects = [
      chain('a', ['ja']),
      jump('ja', 'a', 'a'),
      chain('x', ['jx']),
      chain('y', ['jy']),
      chain('z', ['jz']),
      jump('jx', 'x', 'y'),
      jump('jy', 'y', 'z'),
      jump('jz', 'z', 'x'),
    ];
    expect(messages(validateTopology(objects)).sort()).toEqual([
      'chain a: ruleIds jump in a loop: a → a',
      'chain x: ruleIds jump in a loop: x → y → z → x',
    ]);
  });

  it('accepts jumps that share a target without looping', () => {
    const dag = [
      chain('c1', ['j12', 'j13']),
      chain('c2', ['j23']),
      chain('c3', ['r3']),
      jump('j12', 'c1', 'c2'),
      jump('j13', 'c1', 'c3'),
      jump('j23', 'c2', 'c3'),
      accept('r3', 'c3'),
    ];
    expect(validateTopology(dag)).toEqual([]);
  });

  it('tells, for one rule or chain against a view, that it would close a loop', () => {
    const view = new InMemoryTopology([chain('c1', ['j1']), chain('c2', []), jump('j1', 'c1', 'c2')]);
    const closing = jump('j2', 'c2', 'c1');
    expectIssue(validateObject(closing, view), 'rule j2: jumpChainId "c1" closes a jump loop: c2 → c1 → c2');
    expectIssue(validateObject(jump('j3', 'c2', 'c2'), view), 'jumpChainId "c2" closes a jump loop: c2 → c2');
    view.put(closing);
    expectIssue(validateObject(chain('c2', ['j2']), view), 'chain c2: ruleIds jump in a loop: c2 → c1 → c2');
    expect(validateObject(jump('j4', 'c1', 'c2'), new InMemoryTopology([chain('c1', []), chain('c2', [])]))).toEqual([]);
  });
});

describe('conditions', () => {
  const rule = (condition: Condition): Rule => accept('r1', 'c1', condition);

  it('refuses port ranges with start above end or outside 0..65535', () => {
    expectIssue(validateObject(rule({ tpDst: { value: { start: 2000, end: 1000 } } })), 'rule r1: condition.tpDst.value is an empty port range: start 2000 is above end 1000');
    expectIssue(validateObject(rule({ tpSrc: { value: { start: 70000, end: 70001 } } })), 'condition.tpSrc.value.start 70000 is outside 0..65535');
    expectIssue(validateObject(rule({ tpSrc: { value: { start: -1, end: 5 } } })), 'condition.tpSrc.value.start -1 is outside 0..65535');
    expect(validateObject(rule({ tpDst: { value: { start: 80, end: 80 } }, tpSrc: { value: { start: 0, end: 65535 } } }))).toEqual([]);
  });

  it('refuses invert flags on missing values', () => {
    const noValue = { nwSrc: { invert: true } } as unknown as Condition;
    expectIssue(validateObject(rule(noValue)), 'rule r1: condition.nwSrc.invert is set but condition.nwSrc has no value to negate');
    expectIssue(validateObject(rule({ invert: true })), 'condition.invert is set but the condition has no fields to negate');
    expect(validateObject(rule({ nwSrc: { value: '10.0.0.0/8', invert: true }, invert: true }))).toEqual([]);
  });

  it('refuses bad CIDRs, MACs and numbers in conditions', () => {
    expectIssue(validateObject(rule({ nwDst: { value: '10.1.0.0/40' } })), 'condition.nwDst.value "10.1.0.0/40" is not a valid CIDR: prefix length 40');
    expectIssue(validateObject(rule({ ethSrc: { value: '02:00' } })), 'condition.ethSrc.value "02:00" is not a valid MAC address');
    expectIssue(validateObject(rule({ nwProto: { value: 256 } })), 'condition.nwProto.value 256 is outside 0..255');
    expectIssue(validateObject(rule({ ethType: { value: 0x10000 } })), 'condition.ethType.value 65536 is outside 0..65535');
    expectIssue(validateObject(rule({ vlanId: { value: 5000 } })), 'condition.vlanId.value 5000 is outside 0..4095');
    expectIssue(validateObject(rule({ fragments: 'some' as Condition['fragments'] })), 'condition.fragments "some" is not one of any, unfragmented, header, nonheader');
    expect(
      validateObject(rule({ nwDst: { value: '2001:db8::/32' }, ethSrc: { value: '02:00:00:00:00:01' }, nwProto: { value: 6 }, connState: 'return', fragments: 'unfragmented' })),
    ).toEqual([]);
  });

  it('takes connState and fragments bare or as { value, invert }, and refuses what matches nothing', () => {
    expect(validateObject(rule({ connState: { value: 'forward', invert: true }, fragments: { value: 'unfragmented', invert: true } }))).toEqual([]);
    expectIssue(validateObject(rule({ fragments: { value: 'any', invert: true } })), "condition.fragments.invert is set on 'any': it would match nothing");
    expectIssue(validateObject(rule({ connState: { value: 'both' } as unknown as Condition['connState'] })), 'condition.connState.value "both" is not one of forward, return');
    expectIssue(validateObject(rule({ connState: { value: 'return', invert: 'yes' } as unknown as Condition['connState'] })), 'condition.connState.invert "yes" is not true or false');
    expectIssue(validateObject(rule({ fragments: 7 as unknown as Condition['fragments'] })), 'condition.fragments 7 is not one of any, unfragmented, header, nonheader, nor { value, invert } with one of them');
  });

  it('refuses conditions naming missing ports and port groups', () => {
    const view = new InMemoryTopology([
      bridge('b1'),
      bridgePort({ id: 'p1' }),
      { type: 'portGroup', id: 'g1', stateful: false, portIds: ['p1'] },
      chain('c1', ['r1']),
    ]);
    expectIssue(validateObject(rule({ inPorts: { value: ['p1', 'p9'] } }), view), 'rule r1: condition.inPorts.value[1] "p9" names no port');
    expectIssue(validateObject(rule({ outPortGroup: { value: 'g9' } }), view), 'condition.outPortGroup.value "g9" names no port group');
    expectIssue(validateObject(rule({ outPorts: { value: [] } }), view), 'condition.outPorts.value is empty');
    expect(validateObject(rule({ inPorts: { value: ['p1'] }, inPortGroup: { value: 'g1', invert: true } }), view)).toEqual([]);
  });
});

describe('actions and NAT', () => {
  it('refuses an unknown literal action and an unknown rule kind', () => {
    const bad = { ...accept('r1', 'c1'), action: 'allow' } as unknown as Rule;
    expectIssue(validateObject(bad), 'rule r1: action "allow" is not one of accept, drop, reject, continue, return');
    const odd = { id: 'r1', chainId: 'c1', condition: {}, kind: 'teleport' } as unknown as Rule;
    expectIssue(validateObject(odd), 'kind "teleport" is not one of literal, jump, nat, reverseNat, staticNat');
  });

  it('refuses a NAT rule without targets', () => {
    expectIssue(validateObject(snat([])), 'rule r1: targets is empty; a NAT rule needs at least one target');
    expect(validateObject(snat([target]))).toEqual([]);
  });

  it('refuses an empty address range', () => {
    const issues = validateObject(snat([{ ...target, addressFrom: '198.51.100.20', addressTo: '198.51.100.10' }]));
    expectIssue(issues, 'rule r1: targets[0] has an empty address range: addressFrom "198.51.100.20" is above addressTo "198.51.100.10"');
    expect(validateObject(snat([{ ...target, addressFrom: '198.51.100.20', addressTo: '198.51.100.20' }]))).toEqual([]);
    expectIssue(validateObject(snat([{ ...target, addressFrom: '198.51.100.9', addressTo: '198.51.100.1' }])), 'has an empty address range');
  });

  it('refuses IPv6 targets: dynamic NAT translates IPv4 only, so the rule would never apply', () => {
    const v6 = { ...target, addressFrom: '2001:db8::1', addressTo: '2001:db8::9' };
    expectIssue(validateObject(snat([v6])), 'rule r1: targets[0] is IPv6 ("2001:db8::1"): dynamic NAT translates IPv4 only; for IPv6 use a staticNat rule or route the addresses');
    expectIssue(validateObject(snat([target, v6])), 'targets[1] is IPv6');
  });

  it('refuses a target mixing IPv4 and IPv6', () => {
    const issues = validateObject(snat([target, { ...target, addressTo: '2001:db8::1' }]));
    expectIssue(issues, 'targets[1] mixes IPv4 and IPv6: addressFrom "198.51.100.10", addressTo "2001:db8::1"');
  });

  it('refuses an empty or out-of-range port range and bad addresses', () => {
    expectIssue(validateObject(snat([{ ...target, portFrom: 2000, portTo: 1000 }])), 'targets[0] has an empty port range: portFrom 2000 is above portTo 1000');
    expectIssue(validateObject(snat([{ ...target, portTo: 65536 }])), 'targets[0].portTo 65536 is outside 0..65535');
    expectIssue(validateObject(snat([{ ...target, addressFrom: '198.51.100' }])), 'targets[0].addressFrom "198.51.100" is not a valid IP address');
  });

  it('refuses a static NAT rule with a bad address', () => {
    const fip = (address: string): Rule => ({ id: 'r1', chainId: 'c1', condition: {}, kind: 'staticNat', nat: 'dnat', address, then: 'accept' });
    expectIssue(validateObject(fip('10.0.0.256')), 'rule r1: address "10.0.0.256" is not a valid IP address');
    expect(validateObject(fip('10.0.0.25'))).toEqual([]);
    expect(validateObject(fip('2001:db8::25'))).toEqual([]);
  });

  it('refuses an unknown NAT direction or follow-up', () => {
    const rev = { id: 'r1', chainId: 'c1', condition: {}, kind: 'reverseNat', nat: 'pat', then: 'maybe' } as unknown as Rule;
    const issues = validateObject(rev);
    expectIssue(issues, 'nat "pat" is not one of snat, dnat');
    expectIssue(issues, 'then "maybe" is not one of accept, continue');
  });
});
