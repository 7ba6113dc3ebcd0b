// Every example in config/examples/ loads, and the gateway and compute examples say what they claim.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkConfig, loadConfig } from '../../../src/gateway/config/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../config/examples/', import.meta.url));
const exampleFiles = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

describe('config/examples', () => {
  it('holds the minimal, compute and gateway examples', () => {
    expect(exampleFiles).toEqual(expect.arrayContaining(['minimal.yaml', 'compute.yaml', 'gateway.yaml']));
  });

  it.each(exampleFiles)('%s passes `config check` and loads', async (name) => {
    const path = EXAMPLES + name;
    expect(await checkConfig(path)).toEqual({ ok: true, problems: [] });
    const config = await loadConfig(path);
    expect(config.host.id).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('compute.yaml binds ports and has no gateway role', async () => {
    const config = await loadConfig(EXAMPLES + 'compute.yaml');
    expect(config.bindings.length).toBeGreaterThan(0);
    expect(config.uplinks).toEqual([]);
    expect(config.bgp).toBeUndefined();
    expect(config.flowState.clusterKeyFile).toBe(EXAMPLES + 'cluster.key');
    expect(config.flowState.clusterKey).toBe('example-only-cluster-key-generate-your-own');
  });

  it('gateway.yaml has two uplinks with BGP peers in one ingress set', async () => {
    const config = await loadConfig(EXAMPLES + 'gateway.yaml');
    expect(config.bgp?.asn).toBe(64512);
    expect(config.uplinks.map((u) => u.name)).toEqual(['uplink-a', 'uplink-b']);
    expect(new Set(config.uplinks.map((u) => u.ingressSet))).toEqual(new Set(['ingress-set-1']));
    expect(config.uplinks.every((u) => u.peers.length > 0)).toBe(true);
    const [a, b] = config.uplinks;
    expect(a.port.address).toEqual(['198.18.0.2/30', '2001:db8:a::2/64']);
    expect(a.peers.map((p) => [p.address, p.families, p.keepalive])).toEqual([
      ['198.18.0.1', ['ipv4'], 3],
      ['2001:db8:a::1', ['ipv6'], 3],
    ]);
    expect(b.port.address).toEqual(['198.18.0.6/30']);
    expect(b.peers[0]).toMatchObject({ multihop: 2, holdTime: 30, keepalive: 10, maxPrefixes: { limit: 500000, action: 'restart' } });
  });

  it('the examples of one cluster share its key', async () => {
    const keys = await Promise.all(['compute.yaml', 'gateway.yaml'].map(async (f) => (await loadConfig(EXAMPLES + f)).flowState.clusterKey));
    expect(keys[0]).toBeDefined();
    expect(keys[1]).toBe(keys[0]);
  });
});
