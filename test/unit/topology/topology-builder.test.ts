// The builder produces valid topologies with deterministic ids, in a few lines per scenario.
import fc from 'fast-check';
import {
  TopologyBuilder,
  formatIssues,
  validateTopology,
  type Port,
} from '../../../src/agent-core/topology/index.js';

/** Provider router with two uplinks in an ingress set → tenant router → two bridges → VM ports. */
function providerScenario(b = new TopologyBuilder()) {
  const provider = b.router({ name: 'provider' });
  const up1 = b.uplink(provider, '198.51.100.2/30', 'gw1', 'eth1');
  const up2 = b.uplink(provider, '198.51.100.6/30', 'gw2', 'eth1');
  const uplinks = b.portGroup([up1, up2], { stateful: true, name: 'uplinks' });
  b.route(provider, '0.0.0.0/0', { egressPort: up1, gateway: '198.51.100.1' });
  b.route(provider, '0.0.0.0/0', { egressPort: up2, gateway: '198.51.100.5' });

  const tenant = b.router({ name: 'tenant' });
  const { aPort: toTenant, bPort: toProvider } = b.connectRouters(provider, '169.254.0.1/30', tenant, '169.254.0.2/30');
  b.route(tenant, '0.0.0.0/0', { egressPort: toProvider, gateway: '169.254.0.1' });
  b.route(provider, '10.0.0.0/16', { egressPort: toTenant, gateway: '169.254.0.2' });

  const net1 = b.bridge({ name: 'net1' });
  const net2 = b.bridge({ name: 'net2' });
  b.connect(tenant, net1, '10.0.1.1/24');
  b.connect(tenant, net2, ['10.0.2.1/24', '2001:db8:2::1/64']);
  const vm1 = b.vmPort(net1, 'host1', 'tap1');
  const vm2 = b.vmPort(net2, 'host2', 'tap2');

  const snat = b.chain([
    { kind: 'reverseNat', nat: 'snat', then: 'accept', condition: { nwDst: { value: '198.51.100.0/24' } } },
    {
      kind: 'nat',
      nat: 'snat',
      then: 'accept',
      condition: { outPortGroup: { value: uplinks.id } },
      targets: [{ addressFrom: '203.0.113.10', addressTo: '203.0.113.10', portFrom: 1024, portTo: 65535 }],
    },
  ]);
  const filter = b.chain([{ kind: 'literal', action: 'drop', condition: { tpDst: { value: { start: 23, end: 23 } } } }]);
  b.addRule(snat, { kind: 'jump', jumpChainId: filter.id });
  b.replace({ ...b.get('router', provider)!, postRoutingChainId: snat.id });
  return { b, provider, tenant, up1, up2, net1, net2, vm1, vm2, snat, filter };
}

describe('TopologyBuilder', () => {
  it('builds the provider/tenant scenario as a valid topology', () => {
    const { b } = providerScenario();
    const issues = validateTopology(b.objects());
    expect(formatIssues(issues)).toBe('');
  });

  it('links ports both ways; stores connected routes only when asked', () => {
    const { b, tenant, net1 } = providerScenario();
    const topo = b.topology();
    const bridgePorts = topo.portsOf(net1.id) ?? [];
    expect(bridgePorts).toHaveLength(2);
    const interior = bridgePorts.map((id) => topo.port(id)!).find((p) => p.peerId !== undefined)!;
    const routerSide = topo.port(interior.peerId!)!;
    expect(routerSide.deviceId).toBe(tenant.id);
    expect(routerSide.peerId).toBe(interior.id);
    expect(topo.routes(tenant.id)!.map((r) => r.dst)).toEqual(['0.0.0.0/0']);

    const b2 = new TopologyBuilder();
    const r = b2.router();
    const p = b2.routerPort(r, ['10.0.1.1/24', '2001:db8:2::1/64'], { connectedRoutes: true });
    const routes = b2.topology().routes(r.id)!;
    expect(routes.map((x) => x.dst)).toEqual(['10.0.1.0/24', '2001:db8:2::/64']);
    expect(routes[0]).toMatchObject({ nextHop: 'port', egressPortId: p.id, weight: 0, origin: 'static' });
    expect(routes[0].gateway).toBeUndefined();
    expect(validateTopology(b2.objects())).toEqual([]);
  });

  it('fills in chains: ids, chainId, order and an empty condition', () => {
    const { b, snat, filter } = providerScenario();
    const chain = b.get('chain', snat)!;
    expect(chain.ruleIds).toHaveLength(3);
    const rules = chain.ruleIds.map((id) => b.get('rule', id)!);
    expect(rules.map((r) => r.kind)).toEqual(['reverseNat', 'nat', 'jump']);
    expect(rules.every((r) => r.chainId === snat.id)).toBe(true);
    expect(rules[2]).toMatchObject({ kind: 'jump', jumpChainId: filter.id, condition: {} });
  });

  it('is deterministic: two runs give equal objects; an id prefix keeps builders apart', () => {
    expect(providerScenario().b.objects()).toEqual(providerScenario().b.objects());
    const a = providerScenario(new TopologyBuilder('a-')).b.objects();
    expect(a.every((o) => o.id.startsWith('a-'))).toBe(true);
  });

  it('gives router ports distinct unicast MACs', () => {
    const ports = providerScenario().b.objects().filter((o): o is Port => 'type' in o && o.type === 'port' && o.deviceType === 'router');
    const macs = ports.map((p) => p.mac);
    expect(new Set(macs).size).toBe(macs.length);
    expect(macs[0]).toBe('02:00:00:00:00:01');
  });

  it('builds an L2 gateway: VLAN-aware bridge with a trunk and VLAN ports linked to tenant bridges', () => {
    const b = new TopologyBuilder();
    const l2 = b.bridge({ vlanAware: true });
    b.bridgePort(l2, { trunk: true, hostId: 'gw1', interfaceName: 'eth2' });
    for (const vlan of [10, 20]) {
      const tenant = b.bridge();
      b.link(b.bridgePort(l2, { vlanId: vlan }), b.bridgePort(tenant));
    }
    expect(formatIssues(validateTopology(b.objects()))).toBe('');
  });

  it('refuses to link ports it did not build', () => {
    const b = new TopologyBuilder();
    expect(() => b.link('x', 'y')).toThrow('TopologyBuilder: no port "x" was built here');
  });

  it('always validates, for any number of tenants, bridges and VMs', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(3), { maxLength: 3 }), { minLength: 1, maxLength: 4 }), (tenants) => {
        const b = new TopologyBuilder();
        const provider = b.router();
        const up = b.uplink(provider, '198.51.100.2/30', 'gw1', 'eth1');
        b.route(provider, '0.0.0.0/0', { egressPort: up, gateway: '198.51.100.1' });
        tenants.forEach((bridges, t) => {
          const tenant = b.router();
          b.connectRouters(provider, `169.254.${t}.1/30`, tenant, `169.254.${t}.2/30`);
          bridges.forEach((vms, n) => {
            const net = b.bridge();
            b.connect(tenant, net, `10.${t}.${n}.1/24`);
            for (let v = 0; v < vms; v++) b.vmPort(net, `host${v}`, `tap${t}-${n}-${v}`);
          });
        });
        expect(validateTopology(b.objects())).toEqual([]);
      }),
      { numRuns: 50 },
    );
  });
});
