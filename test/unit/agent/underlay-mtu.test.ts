// The overlay's headroom: outer header sizes per tunnel and underlay family, the underlay found by
// the tunnel's address, and the bind-time verdict on a port's MTU.
import { portMtuProblem, tunnelOverhead, underlayOf } from '../../../src/agent-core/agent/underlay-mtu.js';

describe('tunnel overhead', () => {
  test('VXLAN: outer IP + UDP 8 + VXLAN 8 + inner Ethernet 14', () => {
    expect(tunnelOverhead('vxlan', false)).toBe(50);
    expect(tunnelOverhead('vxlan', true)).toBe(70);
  });

  test('GRE with its key: outer IP + GRE 8 + inner Ethernet 14', () => {
    expect(tunnelOverhead('gre', false)).toBe(42);
    expect(tunnelOverhead('gre', true)).toBe(62);
  });
});

describe('the underlay of a tunnel address', () => {
  test('the interface carrying the address, with its MTU less the overhead', () => {
    // Loopback carries 127.0.0.1 on every Linux host; its MTU is read through the injected reader.
    expect(underlayOf('127.0.0.1', 'vxlan', (ifname) => (ifname === 'lo' ? 1500 : undefined))).toEqual({ ifname: 'lo', mtu: 1500, maxInnerPacket: 1450 });
    expect(underlayOf('127.0.0.1', 'gre', () => 9000)?.maxInnerPacket).toBe(8958);
  });

  test('else the interface whose subnet holds it (the lab binds tunnels to 127.0.0.x)', () => {
    expect(underlayOf('127.0.0.11', 'vxlan', () => 1500)?.ifname).toBe('lo');
  });

  test('unknown for an address no interface carries, a wildcard bind, or an unreadable MTU', () => {
    expect(underlayOf('198.51.100.254', 'vxlan', () => 1500)).toBeUndefined();
    expect(underlayOf('0.0.0.0', 'vxlan', () => 1500)).toBeUndefined();
    expect(underlayOf('not-an-address', 'vxlan', () => 1500)).toBeUndefined();
    expect(underlayOf('127.0.0.1', 'vxlan', () => undefined)).toBeUndefined();
  });

  test('reads the real MTU from sysfs by default', () => {
    const lo = underlayOf('127.0.0.1', 'vxlan');
    expect(lo?.ifname).toBe('lo');
    expect(lo?.mtu).toBeGreaterThanOrEqual(1500);
  });
});

describe('a port MTU against the underlay', () => {
  const underlay = { ifname: 'eth0', mtu: 1500, maxInnerPacket: 1450 };

  test('fits up to the headroom', () => {
    expect(portMtuProblem('p1', 1450, underlay)).toBeUndefined();
    expect(portMtuProblem('p1', 1400, underlay)).toBeUndefined();
  });

  test('one byte over: names the port, both MTUs and both fixes', () => {
    expect(portMtuProblem('vm1-port', 1451, underlay)).toBe(
      'port vm1-port may send IP packets of 1451 bytes, but the tunnel adds 50 and the underlay interface eth0 has MTU 1500: ' +
        'set the port\'s MTU to 1450 at most (and the guests\' to match), or the underlay\'s to 1501; until then larger packets leave this host fragmented',
    );
    expect(portMtuProblem('p', 1500, underlay)).toContain('or the underlay\'s to 1550');
  });
});
