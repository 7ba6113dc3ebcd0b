// A router with a stateful inbound policy: only replies to connections opened from inside enter.
// Exercises the whole walk (simulate) with the conntrack state the result hands to the shell.
import { VLAN_NONE } from '../../../src/agent-core/packet/index.js';
import { VM1, World, ip, mac, udp } from './sim-test-kit.js';

const ROUTER_MAC = mac('02:00:00:00:00:13');
const UPLINK_MAC = mac('02:00:00:00:00:10');
const PEER_MAC = mac('0c:00:00:00:00:fe');

function world(): World {
  const w = new World();
  const b = w.b;
  b.router({ id: 'r1' });
  b.bridge({ id: 'b1' });
  b.vmPort('b1', 'h', 'vm', { id: 'vm' });
  b.connect('r1', 'b1', '10.0.0.1/24', { mac: '02:00:00:00:00:13' });
  b.uplink('r1', '192.0.2.1/24', 'gw', 'eth1', { id: 'up', mac: '02:00:00:00:00:10' });
  b.route('r1', '0.0.0.0/0', { egressPort: 'up', gateway: '192.0.2.254' });
  const inbound = b.chain([
    { kind: 'literal', action: 'accept', condition: { inPorts: { value: ['up'] }, connState: 'return' } },
    { kind: 'literal', action: 'drop', condition: { inPorts: { value: ['up'] } } },
  ]);
  b.replace({ ...b.get('router', 'r1')!, preRoutingChainId: inbound.id });
  w.done();
  w.learnMac('b1', VLAN_NONE, VM1, 'vm');
  w.setArp('r1', ip('10.0.0.11'), VM1);
  w.setArp('r1', ip('192.0.2.254'), PEER_MAC);
  return w;
}

const outbound = udp({ srcMac: VM1, dstMac: ROUTER_MAC, src: '10.0.0.11', dst: '198.51.100.7', sport: 40000, dport: 53 });
const reply = udp({ srcMac: PEER_MAC, dstMac: UPLINK_MAC, src: '198.51.100.7', dst: '10.0.0.11', sport: 53, dport: 40000 });

describe('stateful firewall through the whole walk', () => {
  it('drops an unsolicited inbound packet and keeps no connection state for it', () => {
    const w = world();
    const r = w.run(reply, 'up');
    expect(r.outcome.kind).toBe('drop');
    expect(r.stateChanges.filter((c) => c.kind === 'conntrack' || c.kind === 'nat')).toEqual([]);
  });

  it('after a dropped probe, the connection opened from inside still gets its replies', () => {
    const w = world();
    w.apply(w.run(reply, 'up').stateChanges); // the probe first
    const out = w.run(outbound, 'vm');
    expect(out.outcome.kind).toBe('forward');
    w.apply(out.stateChanges);
    const back = w.run(reply, 'up');
    expect(back.outcome.kind).toBe('forward');
    expect(back.actions[back.actions.length - 1]).toEqual({ kind: 'output', portId: 'vm' });
  });
});
