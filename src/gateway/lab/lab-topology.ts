// The lab's virtual world (DESIGN: Interfaces for people, `tollgate lab`): a provider router with two
// uplinks in one ingress set, a tenant router behind it with two bridges and three VMs, a floating
// IP and SNAT for the rest. Pure data; scenario tests, benchmarks and the lab all build this one.
import { TopologyBuilder, type TopologyObject } from '../../agent-core/topology/index.js';

/** Every name the lab's callers refer to; addresses are from the documentation/benchmark ranges. */
export const LAB = {
  hosts: { gatewayA: 'gw-a', gatewayB: 'gw-b', compute: 'compute-1' },
  provider: 'provider',
  tenant: 'tenant',
  bridgeA: 'net-a',
  bridgeB: 'net-b',
  uplinkA: { port: 'uplink-a', address: '192.0.2.2/28', mac: '02:00:00:00:01:0a', peer: '192.0.2.1', peerMac: '0c:00:00:00:00:0a' },
  uplinkB: { port: 'uplink-b', address: '198.51.100.2/28', mac: '02:00:00:00:01:0b', peer: '198.51.100.1', peerMac: '0c:00:00:00:00:0b' },
  uplinkV6: { address: '2001:db8:ff::2/64', peer: '2001:db8:ff::1' },
  ingressSet: 'ingress-set-1',
  /** The internet beyond the uplinks is represented by this host (outside both uplink subnets). */
  internetHost: '198.51.100.77',
  /** Provider ↔ tenant link. */
  transit: { provider: 'provider-transit', tenant: 'tenant-transit', providerAddress: '198.18.0.1/30', tenantAddress: '198.18.0.2/30' },
  netA: { gatewayPort: 'tenant-net-a', address: '198.18.1.1/24', mac: '02:00:00:00:02:01', v6: '2001:db8:1::1/64' },
  netB: { gatewayPort: 'tenant-net-b', address: '198.18.2.1/24', mac: '02:00:00:00:02:02', v6: '2001:db8:2::1/64' },
  vm1: { port: 'vm1', ip: '198.18.1.11', ip6: '2001:db8:1::11', mac: '0a:00:00:00:00:11', bridge: 'net-a' },
  vm2: { port: 'vm2', ip: '198.18.1.12', ip6: '2001:db8:1::12', mac: '0a:00:00:00:00:12', bridge: 'net-a' },
  vm3: { port: 'vm3', ip: '198.18.2.13', ip6: '2001:db8:2::13', mac: '0a:00:00:00:00:13', bridge: 'net-b' },
  floatingRange: '203.0.113.0/24',
  /** vm1's floating IP (static 1:1 NAT on the tenant router). */
  floatingIp: '203.0.113.10',
  /** The tenant's SNAT address for VMs without a floating IP. */
  snatIp: '203.0.113.1',
  chains: { tenantPre: 'tenant-pre', tenantPost: 'tenant-post' },
} as const;

export interface LabTopologyOptions {
  /** Extra literal rules appended to the tenant's post-routing chain before SNAT (benchmarks grow it). */
  readonly extraPostRoutingRules?: number;
  /** The SNAT rule's port range (default 1024-65535); tests of exhaustion narrow it. */
  readonly snatPorts?: { readonly from: number; readonly to: number };
}

export function buildLabTopology(opts: LabTopologyOptions = {}): TopologyObject[] {
  const b = new TopologyBuilder();
  const { hosts } = LAB;

  b.router({ id: LAB.provider, name: 'provider router' });
  b.router({ id: LAB.tenant, name: 'tenant router', preRoutingChainId: LAB.chains.tenantPre, postRoutingChainId: LAB.chains.tenantPost });
  b.bridge({ id: LAB.bridgeA, name: 'net-a' });
  b.bridge({ id: LAB.bridgeB, name: 'net-b' });

  const upA = b.uplink(LAB.provider, [LAB.uplinkA.address, LAB.uplinkV6.address], hosts.gatewayA, 'uplink0', { id: LAB.uplinkA.port, mac: LAB.uplinkA.mac });
  const upB = b.uplink(LAB.provider, LAB.uplinkB.address, hosts.gatewayB, 'uplink0', { id: LAB.uplinkB.port, mac: LAB.uplinkB.mac });
  b.portGroup([upA, upB], { id: LAB.ingressSet, name: 'provider uplinks', stateful: true });

  const pt = b.routerPort(LAB.provider, [LAB.transit.providerAddress, '2001:db8:fe::1/64'], { id: LAB.transit.provider, mac: '02:00:00:00:01:01' });
  const tt = b.routerPort(LAB.tenant, [LAB.transit.tenantAddress, '2001:db8:fe::2/64'], { id: LAB.transit.tenant, mac: '02:00:00:00:02:00' });
  b.link(pt, tt);

  // Upstream: ECMP over both uplinks' peers; the floating range and tenant subnets via the tenant router.
  b.route(LAB.provider, '0.0.0.0/0', { id: 'provider-default-a', egressPort: upA, gateway: LAB.uplinkA.peer });
  b.route(LAB.provider, '0.0.0.0/0', { id: 'provider-default-b', egressPort: upB, gateway: LAB.uplinkB.peer });
  b.route(LAB.provider, '::/0', { id: 'provider-default-v6', egressPort: upA, gateway: LAB.uplinkV6.peer });
  b.route(LAB.provider, LAB.floatingRange, { id: 'provider-floating', advertise: true, egressPort: pt, gateway: '198.18.0.2' });
  b.route(LAB.provider, '2001:db8:1::/64', { id: 'provider-net-a-v6', advertise: true, egressPort: pt, gateway: '2001:db8:fe::2' });
  b.route(LAB.provider, '2001:db8:2::/64', { id: 'provider-net-b-v6', advertise: true, egressPort: pt, gateway: '2001:db8:fe::2' });
  b.route(LAB.tenant, '0.0.0.0/0', { id: 'tenant-default', egressPort: tt, gateway: '198.18.0.1' });
  // Floating and SNAT addresses nothing translated: answer unreachable instead of bouncing the
  // packet back to the provider router (which routes the range here) until the loop guard.
  b.route(LAB.tenant, LAB.floatingRange, { id: 'tenant-floating-unused', nextHop: 'reject' });
  b.route(LAB.tenant, '::/0', { id: 'tenant-default-v6', egressPort: tt, gateway: '2001:db8:fe::1' });

  b.connect(LAB.tenant, LAB.bridgeA, [LAB.netA.address, LAB.netA.v6], { id: LAB.netA.gatewayPort, mac: LAB.netA.mac });
  b.connect(LAB.tenant, LAB.bridgeB, [LAB.netB.address, LAB.netB.v6], { id: LAB.netB.gatewayPort, mac: LAB.netB.mac });
  for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) b.vmPort(vm.bridge, hosts.compute, `tap-${vm.port}`, { id: vm.port });

  // Floating IP (static 1:1) and reverse SNAT before routing; SNAT and the floating source after.
  b.chain(
    [
      { kind: 'staticNat', nat: 'dnat', address: LAB.vm1.ip, then: 'accept', condition: { nwDst: { value: `${LAB.floatingIp}/32` } } },
      { kind: 'reverseNat', nat: 'snat', then: 'accept', condition: { inPorts: { value: [LAB.transit.tenant] } } },
    ],
    { id: LAB.chains.tenantPre, name: 'tenant pre-routing' },
  );
  const post = b.chain([], { id: LAB.chains.tenantPost, name: 'tenant post-routing' });
  for (let i = 0; i < (opts.extraPostRoutingRules ?? 0); i++) {
    // Rules a packet from the VMs never matches, as a real policy's unrelated entries.
    b.addRule(post, {
      kind: 'literal',
      action: 'drop',
      condition: { nwDst: { value: `172.${16 + (i % 16)}.${i % 256}.0/24` }, tpDst: { value: { start: 1000 + i, end: 1000 + i } } },
    });
  }
  b.addRule(post, {
    kind: 'staticNat', nat: 'snat', address: LAB.floatingIp, then: 'accept',
    condition: { outPorts: { value: [LAB.transit.tenant] }, nwSrc: { value: `${LAB.vm1.ip}/32` } },
  });
  b.addRule(post, {
    kind: 'nat', nat: 'snat', then: 'accept',
    condition: { outPorts: { value: [LAB.transit.tenant] }, nwSrc: { value: '198.18.0.0/15' } },
    targets: [{ addressFrom: LAB.snatIp, addressTo: LAB.snatIp, portFrom: opts.snatPorts?.from ?? 1024, portTo: opts.snatPorts?.to ?? 65535 }],
  });
  return b.objects();
}
