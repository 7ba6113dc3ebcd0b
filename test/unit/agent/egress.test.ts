import { bindingTag, hostTag, resolveEgress, type BindingView } from '../../../src/agent-core/agent/egress-resolver.js';
import { PortBindings } from '../../../src/agent-core/agent/port-bindings.js';
import { TUNNEL_KEY_TRACE_BIT } from '../../../src/agent-core/packet/index.js';

function view(ports: Record<string, { hostId: string; tunnelKey: number } | null>, hosts: Record<string, string | null>): BindingView {
  return { portActive: (p) => ports[p], hostTunnelIp: (h) => hosts[h] };
}

test('local ports become datapath outputs, remote ones tunnels to their host with their key; rewrites stay in order', () => {
  const local = new PortBindings();
  const vm1 = local.bind('vm1', 'tap1');
  const r = resolveEgress(
    [{ kind: 'setField', field: 'ethDst', value: 1 } as never, { kind: 'output', portId: 'vm1' }, { kind: 'output', portId: 'vm9' }],
    local, 'me', view({ vm9: { hostId: 'h2', tunnelKey: 42 } }, { h2: '127.0.0.12' }),
  );
  expect(r.actions).toEqual([{ kind: 'setField', field: 'ethDst', value: 1 }, { kind: 'output', port: vm1.dpPort }, { kind: 'tunnel', remoteIp: '127.0.0.12', key: 42 }]);
  expect(r.tags).toEqual([bindingTag('vm1'), bindingTag('vm9'), hostTag('h2')]);
  expect(r.waitFor).toEqual([]);
});

test('loading bindings and hosts are waited for; ports bound nowhere are dropped and reported', () => {
  const r = resolveEgress(
    [{ kind: 'output', portId: 'loading' }, { kind: 'output', portId: 'gone' }, { kind: 'output', portId: 'hostless' }, { kind: 'output', portId: 'dead' }],
    new PortBindings(), 'me', view({ gone: null, hostless: { hostId: 'h3', tunnelKey: 1 }, dead: { hostId: 'h4', tunnelKey: 2 } }, { h4: null }),
  );
  expect(r.actions).toEqual([]);
  expect(r.waitFor).toEqual([bindingTag('loading'), hostTag('h3')]);
  expect(r.unbound).toEqual(['gone', 'dead']);
});

test('bindings get distinct datapath numbers and tunnel keys below the trace bit, refuse duplicates and reuse freed numbers', () => {
  const b = new PortBindings();
  const a = b.bind('a', 'if-a');
  const c = b.bind('c', 'if-c', 'ns1');
  expect(a.dpPort).not.toBe(c.dpPort);
  expect(c.tunnelKey).toBeLessThan(TUNNEL_KEY_TRACE_BIT);
  expect(() => b.bind('a', 'if-x')).toThrow('port a is bound already');
  expect(() => b.bind('d', 'if-a')).toThrow('interface if-a is bound already');
  expect(b.bind('e', 'if-a', 'ns2').ifname).toBe('if-a');
  b.unbind('a');
  expect(b.ofDpPort(a.dpPort)).toBeUndefined();
  expect(b.ofPort('c')).toBe(c);
});
