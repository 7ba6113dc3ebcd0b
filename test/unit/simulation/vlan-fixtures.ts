// VLAN-aware bridge topologies (DESIGN: Virtual topology — L2 gateway, trunk ports, VLAN push/pop on
// interior ports), shared by the flood tests and the L2 soundness property.
import type { TopologyBuilder } from '../../../src/agent-core/topology/topology-builder.js';

/**
 * L2 gateway `gw`: trunk port `trunk` (exterior on gw1), VLAN 10 mapped through interior port v10 to
 * tenant bridge t10 and VLAN 20 through v20 to t20, each tenant bridge with a VM port (`t10-vm`, `t20-vm`).
 */
export function addL2Gateway(b: TopologyBuilder): void {
  b.bridge({ id: 'gw', vlanAware: true });
  b.bridgePort('gw', { id: 'trunk', trunk: true, hostId: 'gw1', interfaceName: 'eth2' });
  b.bridgePort('gw', { id: 'v10', vlanId: 10 });
  b.bridgePort('gw', { id: 'v20', vlanId: 20 });
  for (const t of ['t10', 't20']) {
    b.bridge({ id: t });
    b.bridgePort(t, { id: `${t}-up` });
    b.vmPort(t, 'h1', `tap-${t}`, { id: `${t}-vm` });
  }
  b.link('v10', 't10-up');
  b.link('v20', 't20-up');
}

/** VLAN-aware access switch `sw`: trunks T1 and T2, access ports A1 and A2 in VLAN 10, B1 in VLAN 20. */
export function addAccessSwitch(b: TopologyBuilder): void {
  b.bridge({ id: 'sw', vlanAware: true });
  b.bridgePort('sw', { id: 'T1', trunk: true, hostId: 'h', interfaceName: 't1' });
  b.bridgePort('sw', { id: 'A1', vlanId: 10, hostId: 'h', interfaceName: 'a1' });
  b.bridgePort('sw', { id: 'T2', trunk: true, hostId: 'h', interfaceName: 't2' });
  b.bridgePort('sw', { id: 'A2', vlanId: 10, hostId: 'h', interfaceName: 'a2' });
  b.bridgePort('sw', { id: 'B1', vlanId: 20, hostId: 'h', interfaceName: 'b1' });
}
