// The loader fills every default: the schema's own `default`s and the ones derived from other fields.
import { parseConfigText, readConfigSchema } from '../../../src/gateway/config/index.js';
import { BASE, FILE, yamlLines } from './helpers.js';

function load(yaml: string) {
  const result = parseConfigText(yaml, FILE);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`).join('\n'));
  return result.config;
}

describe('config defaults', () => {
  it('a minimal config loads with every default filled', () => {
    expect(load(yamlLines(...BASE))).toEqual({
      host: { id: 'gw1', tunnelIp: '192.0.2.1' },
      zookeeper: { servers: ['127.0.0.1:2181'], root: '/tollgate', sessionTimeoutMs: 10000 },
      tunnel: { type: 'vxlan', port: 6677, bindAddress: '192.0.2.1' },
      flowState: { push: true, stateDir: '/var/lib/tollgate' },
      bindings: [],
      api: { listen: '127.0.0.1:8181' },
      uplinks: [],
      logging: { level: 'info' },
      watchdog: { enabled: true, stallMs: 5000 },
    });
  });

  it('the schema defaults are the ones applied (the schema is the single source of truth)', () => {
    const schema = readConfigSchema() as { properties: Record<string, { properties?: Record<string, { default?: unknown }> }> };
    const config = load(yamlLines(...BASE)) as unknown as Record<string, Record<string, unknown>>;
    for (const section of ['zookeeper', 'tunnel', 'flowState', 'api', 'logging', 'watchdog']) {
      for (const [field, spec] of Object.entries(schema.properties[section].properties ?? {})) {
        if (spec.default !== undefined) expect([section, field, config[section][field]]).toEqual([section, field, spec.default]);
      }
    }
  });

  it('bgp and its gobgpd section get their defaults', () => {
    const config = load(yamlLines(...BASE, 'bgp:', '  asn: 64512', '  routerId: 192.0.2.1'));
    expect(config.bgp).toEqual({
      asn: 64512,
      routerId: '192.0.2.1',
      listenPort: 179,
      namespace: 'tollgate-bgp-gw1',
      gobgpd: { binary: '/usr/bin/gobgpd', protoDir: '/usr/share/gocode/src/github.com/osrg/gobgp/api', socket: '/var/lib/tollgate/gobgpd-gw1.sock' },
    });
  });

  it('peers get holdTime 90, keepalive holdTime/3, the family of their address; maxPrefixes action warn', () => {
    const config = load(
      yamlLines(
        ...BASE,
        'bgp: { asn: 64512, routerId: 192.0.2.1 }',
        'uplinks:',
        '  - name: a',
        '    interface: eth1',
        '    router: r',
        '    port: { id: p, address: [192.0.2.2/28, "2001:db8::2/64"], mac: "02:00:00:00:00:01" }',
        '    peers:',
        '      - { address: 192.0.2.1, asn: 65001 }',
        '      - { address: "2001:db8::1", asn: 65001, holdTime: 10, maxPrefixes: { limit: 5 } }',
        '      - { address: 192.0.2.3, asn: 65001, holdTime: 0 }',
      ),
    );
    const [u] = config.uplinks;
    expect(u.advertise).toEqual([]);
    expect(u.peers.map((p) => [p.holdTime, p.keepalive, p.families])).toEqual([
      [90, 30, ['ipv4']],
      [10, 3, ['ipv6']],
      [0, 0, ['ipv4']],
    ]);
    expect(u.peers[1].maxPrefixes).toEqual({ limit: 5, action: 'warn' });
  });

  it('a single port address is loaded as a one-element list', () => {
    const config = load(yamlLines(...BASE, 'uplinks:', '  - { name: a, interface: eth1, router: r, port: { id: p, address: 192.0.2.2/28, mac: "02:00:00:00:00:01" } }'));
    expect(config.uplinks[0].port.address).toEqual(['192.0.2.2/28']);
    expect(config.uplinks[0].peers).toEqual([]);
  });

  it('an explicit tunnel.bindAddress is kept', () => {
    expect(load(yamlLines(...BASE, 'tunnel: { bindAddress: 0.0.0.0 }')).tunnel.bindAddress).toBe('0.0.0.0');
  });

  it('the loaded config is frozen all the way down', () => {
    const config = load(yamlLines(...BASE, 'bindings: [{ port: p, interface: veth1 }]'));
    expect(Object.isFrozen(config.zookeeper.servers)).toBe(true);
    expect(Object.isFrozen(config.bindings[0])).toBe(true);
    expect(() => {
      (config.tunnel as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
