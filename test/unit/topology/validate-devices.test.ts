// Validation of bridges, routers and ports: each rule with a bad case (exact message fragment) and a good case.
import { InMemoryTopology, validateObject, validateTopology, type Port } from '../../../src/agent-core/topology/index.js';
import { bridge, bridgePort, expectIssue, messages, router, routerPort } from './helpers.js';

describe('addresses and MACs', () => {
  it('refuses a CIDR with a bad address, naming the field and value', () => {
    const issues = validateObject(routerPort({ addresses: ['10.0.0.300/24'] }));
    expect(messages(issues)).toEqual(['port p1: addresses[0] "10.0.0.300/24" is not a valid CIDR']);
    expect(issues[0]).toMatchObject({ objectType: 'port', id: 'p1', field: 'addresses[0]' });
    expect(validateObject(routerPort({ addresses: ['10.0.0.1/24'] }))).toEqual([]);
  });

  it('refuses a CIDR without a prefix length', () => {
    expectIssue(validateObject(routerPort({ addresses: ['10.0.0.1'] })), 'addresses[0] "10.0.0.1" is not a valid CIDR: the /prefix-length is missing');
  });

  it('refuses prefix lengths out of range per family', () => {
    expectIssue(validateObject(routerPort({ addresses: ['10.0.0.1/33'] })), 'prefix length 33 is outside 0..32 for IPv4');
    expectIssue(validateObject(routerPort({ addresses: ['2001:db8::1/129'] })), 'prefix length 129 is outside 0..128 for IPv6');
    expect(validateObject(routerPort({ addresses: ['10.0.0.1/32', '2001:db8::1/128'] }))).toEqual([]);
  });

  it('refuses the network and broadcast address of an IPv4 subnet as a port address, but not on /31', () => {
    expectIssue(validateObject(routerPort({ addresses: ['10.0.0.0/24'] })), '"10.0.0.0/24" is the network address of its subnet');
    expectIssue(validateObject(routerPort({ addresses: ['10.0.0.255/24'] })), '"10.0.0.255/24" is the broadcast address');
    expect(validateObject(routerPort({ addresses: ['10.0.0.0/31'] }))).toEqual([]);
  });

  it('refuses a malformed or multicast MAC', () => {
    expectIssue(validateObject(routerPort({ mac: 'zz:00' })), 'port p1: mac "zz:00" is not a valid MAC address');
    expectIssue(validateObject(routerPort({ mac: '01:00:5e:00:00:01' })), 'mac "01:00:5e:00:00:01" is a multicast/broadcast MAC');
    expect(validateObject(routerPort({ mac: '52:54:00:12:34:56' }))).toEqual([]);
  });

  it('refuses bad IPs and MACs in a bridge ARP table, and an IP listed twice', () => {
    const bad = bridge('b1', { arpEntries: [{ ip: '10.0.0.999', mac: '02:00:00:00:00:05' }, { ip: '10.0.0.5', mac: 'nope' }] });
    const issues = validateObject(bad);
    expectIssue(issues, 'bridge b1: arpEntries[0].ip "10.0.0.999" is not a valid IP address');
    expectIssue(issues, 'arpEntries[1].mac "nope" is not a valid MAC address');
    const twice = bridge('b1', { arpEntries: [{ ip: '10.0.0.5', mac: '02:00:00:00:00:05' }, { ip: '10.0.0.5', mac: '02:00:00:00:00:06' }] });
    expectIssue(validateObject(twice), 'arpEntries[1].ip "10.0.0.5" is listed twice (also arpEntries[0])');
    const good = bridge('b1', { arpEntries: [{ ip: '10.0.0.5', mac: '02:00:00:00:00:05' }, { ip: '2001:db8::5', mac: '02:00:00:00:00:06' }] });
    expect(validateObject(good)).toEqual([]);
  });
});

describe('router and bridge port addressing', () => {
  it('needs addresses and a MAC on a router port', () => {
    expectIssue(validateObject(routerPort({ addresses: undefined })), 'port p1: addresses is missing; a router port needs at least one address');
    expectIssue(validateObject(routerPort({ addresses: [] })), 'addresses [] is empty');
    expectIssue(validateObject(routerPort({ mac: undefined })), 'port p1: mac is missing; a router port needs a MAC');
  });

  it('refuses addresses and a MAC on a bridge port', () => {
    expectIssue(validateObject(bridgePort({ addresses: ['10.0.0.1/24'] })), 'addresses ["10.0.0.1/24"] are set on a bridge port; only router ports have addresses');
    expectIssue(validateObject(bridgePort({ mac: '02:00:00:00:00:01' })), 'only router ports have a MAC');
    expect(validateObject(bridgePort())).toEqual([]);
  });

  it('refuses an unknown device type and a device of the wrong kind', () => {
    expectIssue(validateObject(bridgePort({ deviceType: 'switch' as Port['deviceType'] })), 'deviceType "switch" is not one of bridge, router');
    const view = new InMemoryTopology([bridge('b1'), router('r1')]);
    expectIssue(validateObject(routerPort({ deviceId: 'b1' }), view), 'deviceId "b1" names a bridge, but deviceType is "router"');
    expectIssue(validateObject(routerPort({ deviceId: 'r9' }), view), 'deviceId "r9" names no router');
    expect(validateObject(routerPort(), view)).toEqual([]);
  });

  it('refuses chains that do not exist', () => {
    const view = new InMemoryTopology([router('r1'), { type: 'chain', id: 'c1', ruleIds: [] }]);
    expectIssue(validateObject(routerPort({ inboundChainId: 'c9' }), view), 'port p1: inboundChainId "c9" names no chain');
    expectIssue(validateObject({ ...router('r1'), postRoutingChainId: 'c9' }, view), 'router r1: postRoutingChainId "c9" names no chain');
    expectIssue(validateObject(bridge('b1', { outboundChainId: 'c9' }), view), 'bridge b1: outboundChainId "c9" names no chain');
    expect(validateObject(routerPort({ inboundChainId: 'c1', outboundChainId: 'c1' }), view)).toEqual([]);
  });
});

describe('peers', () => {
  it('refuses a port peered with itself (even without a view)', () => {
    expectIssue(validateObject(routerPort({ peerId: 'p1' })), 'port p1: peerId "p1" is the port itself');
  });

  it('refuses a peer that does not exist', () => {
    const view = new InMemoryTopology([router('r1')]);
    expectIssue(validateObject(routerPort({ peerId: 'p9' }), view), 'port p1: peerId "p9" names no port');
  });

  it('refuses a peer that does not point back', () => {
    const p2 = routerPort({ id: 'p2', deviceId: 'r2', addresses: ['10.0.0.2/24'], mac: '02:00:00:00:00:02' });
    const p3 = { ...p2, id: 'p3', peerId: 'p2' };
    const view = new InMemoryTopology([router('r1'), router('r2'), p2]);
    expectIssue(validateObject(routerPort({ peerId: 'p2' }), view), 'peerId "p2" does not point back: port p2 has no peerId');
    view.put({ ...p2, peerId: 'p3' });
    view.put(p3);
    expectIssue(validateObject(routerPort({ peerId: 'p2' }), view), 'port p2 has peerId "p3"');
  });

  function linked(a: Port, b: Port, extra: ConstructorParameters<typeof InMemoryTopology>[0] = []) {
    const pa = { ...a, peerId: b.id };
    const pb = { ...b, peerId: a.id };
    return { pa, pb, issues: validateTopology([...extra, pa, pb]) };
  }

  it('refuses a bridge port peered with a bridge port', () => {
    const { issues } = linked(bridgePort({ id: 'a' }), bridgePort({ id: 'b', deviceId: 'b2' }), [bridge('b1'), bridge('b2')]);
    expect(issues.filter((i) => i.message.includes('links two bridge ports'))).toHaveLength(2);
    expectIssue(issues.filter((i) => i.id === 'a'), 'port a: peerId "b" links two bridge ports');
  });

  it('allows bridge-router and router-router links', () => {
    const br = linked(bridgePort({ id: 'a' }), routerPort({ id: 'b' }), [bridge('b1'), router('r1')]);
    expect(messages(br.issues)).toEqual([]);
    const rr = linked(
      routerPort({ id: 'a' }),
      routerPort({ id: 'b', deviceId: 'r2', addresses: ['10.0.0.2/24'], mac: '02:00:00:00:00:02' }),
      [router('r1'), router('r2')],
    );
    expect(messages(rr.issues)).toEqual([]);
  });

  it("allows a VLAN-aware bridge's VLAN port to link to a tenant bridge (L2 gateway)", () => {
    const l2 = linked(bridgePort({ id: 'a', vlanId: 100 }), bridgePort({ id: 'b', deviceId: 'b2' }), [
      bridge('b1', { vlanAware: true }),
      bridge('b2'),
    ]);
    expect(messages(l2.issues)).toEqual([]);
  });

  it('refuses a link within one device', () => {
    const { issues } = linked(routerPort({ id: 'a' }), routerPort({ id: 'b', addresses: ['10.0.1.1/24'], mac: '02:00:00:00:00:02' }), [router('r1')]);
    expectIssue(issues.filter((i) => i.id === 'a'), 'peerId "b" is on the same device "r1"');
  });

  it('refuses an interior port that is also bound to a host', () => {
    const issues = validateObject(bridgePort({ peerId: 'p2', hostId: 'h1', interfaceName: 'tap0' }));
    expectIssue(issues, 'port p1: hostId "h1" binds an interior port (peerId "p2")');
    expect(validateObject(bridgePort({ hostId: 'h1', interfaceName: 'tap0' }))).toEqual([]);
  });
});

describe('VLANs and MTU', () => {
  it('refuses VLAN ids outside 0..4095', () => {
    expectIssue(validateObject(bridgePort({ vlanId: 4096 })), 'port p1: vlanId 4096 is outside 0..4095');
    expectIssue(validateObject(bridgePort({ vlanId: -1 })), 'vlanId -1 is outside 0..4095');
    expectIssue(validateObject(bridgePort({ vlanId: 1.5 })), 'vlanId 1.5 is not an integer');
    expect(validateObject(bridgePort({ vlanId: 0 }))).toEqual([]);
    expect(validateObject(bridgePort({ vlanId: 4095 }))).toEqual([]);
  });

  it('refuses VLAN settings on router ports', () => {
    expectIssue(validateObject(routerPort({ vlanId: 10 })), 'vlanId 10 is set on a router port');
    expectIssue(validateObject(routerPort({ trunk: true })), 'trunk is set on a router port');
  });

  it('refuses a trunk on a bridge that is not VLAN-aware', () => {
    const plain = new InMemoryTopology([bridge('b1')]);
    expectIssue(validateObject(bridgePort({ trunk: true, hostId: 'gw1', interfaceName: 'eth2' }), plain), 'trunk is set but bridge b1 is not VLAN-aware');
    const aware = new InMemoryTopology([bridge('b1', { vlanAware: true })]);
    expect(validateObject(bridgePort({ trunk: true, hostId: 'gw1', interfaceName: 'eth2' }), aware)).toEqual([]);
  });

  it('refuses MTU outside 68..65535', () => {
    expectIssue(validateObject(routerPort({ mtu: 67 })), 'port p1: mtu 67 is outside 68..65535');
    expectIssue(validateObject(routerPort({ mtu: 65536 })), 'mtu 65536 is outside 68..65535');
    expect(validateObject(routerPort({ mtu: 68 }))).toEqual([]);
    expect(validateObject(routerPort({ mtu: 9000 }))).toEqual([]);
  });

  it('needs MTU >= 1280 on a port with an IPv6 address', () => {
    const v6 = { addresses: ['10.0.0.1/24', '2001:db8::1/64'] };
    expectIssue(validateObject(routerPort({ ...v6, mtu: 1279 })), 'mtu 1279 is below 1280, the IPv6 minimum (RFC 8200), but the port has IPv6 address "2001:db8::1/64"');
    expect(validateObject(routerPort({ ...v6, mtu: 1280 }))).toEqual([]);
    expect(validateObject(routerPort({ mtu: 1000 }))).toEqual([]);
  });
});

describe('identity fields', () => {
  it('refuses an empty id and a non-boolean adminStateUp', () => {
    expectIssue(validateObject(routerPort({ id: '' })), 'id "" is not a valid id');
    expectIssue(validateObject({ ...router(), adminStateUp: 'yes' as unknown as boolean }), 'router r1: adminStateUp "yes" is not true or false');
  });
});
