// The JSON schema and the TollgateConfig type name the same fields: the KeyTree below must list
// exactly the type's keys (tsc checks that), and the schema's properties must form the same tree;
// a config setting every field loads into an object with exactly those keys.
import { fileURLToPath } from 'node:url';
import { loadConfig, readConfigSchema, type TollgateConfig } from '../../../src/gateway/config/index.js';

/** Every key of T, required; nested objects and lists of objects as subtrees, anything else `true`. */
type KeyTree<T> = {
  [K in keyof T]-?: NonNullable<T[K]> extends readonly (infer E)[]
    ? E extends object
      ? KeyTree<E>
      : true
    : NonNullable<T[K]> extends object
      ? KeyTree<NonNullable<T[K]>>
      : true;
};

const TYPE_KEYS: KeyTree<TollgateConfig> = {
  host: { id: true, tunnelIp: true },
  zookeeper: { servers: true, root: true, sessionTimeoutMs: true },
  tunnel: { type: true, port: true, bindAddress: true },
  flowState: { push: true, clusterKey: true, clusterKeyFile: true, stateDir: true },
  bindings: { port: true, interface: true, netns: true },
  api: { listen: true, token: true },
  bgp: { asn: true, routerId: true, listenPort: true, namespace: true, gobgpd: { binary: true, protoDir: true, socket: true } },
  uplinks: {
    name: true,
    interface: true,
    netns: true,
    router: true,
    port: { id: true, address: true, mac: true },
    ingressSet: true,
    advertise: true,
    peers: {
      address: true,
      asn: true,
      password: true,
      holdTime: true,
      keepalive: true,
      multihop: true,
      families: true,
      maxPrefixes: { limit: true, action: true },
    },
  },
  logging: { level: true },
  watchdog: { enabled: true, stallMs: true },
};

type Tree = { [key: string]: Tree | true };
type Schema = { properties?: Record<string, Schema>; items?: Schema; $ref?: string };

/** Field paths of a tree as sorted 'a.b.c' strings. */
function leaves(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree)
    .flatMap(([k, v]) => (v === true ? [prefix + k] : [prefix + k, ...leaves(v, `${prefix}${k}.`)]))
    .sort();
}

function schemaTree(schema: Schema): Tree {
  const out: Tree = {};
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const object = sub.properties !== undefined ? sub : sub.items?.properties !== undefined ? sub.items : undefined;
    out[key] = object === undefined ? true : schemaTree(object);
  }
  return out;
}

/** The keys present in a loaded config; list items merged. */
function valueTree(value: unknown): Tree {
  const out: Tree = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const items = Array.isArray(v) ? v : [v];
    const objects = items.filter((x) => x !== null && typeof x === 'object' && !Array.isArray(x));
    out[key] = objects.length === 0 ? true : objects.reduce<Tree>((acc, o) => ({ ...acc, ...valueTree(o) }), {});
  }
  return out;
}

describe('schema and type agree', () => {
  it('the schema properties are the TollgateConfig fields', () => {
    expect(leaves(schemaTree(readConfigSchema() as Schema))).toEqual(leaves(TYPE_KEYS as unknown as Tree));
  });

  it('a config setting every field loads with exactly those fields', async () => {
    const config = await loadConfig(fileURLToPath(new URL('./fixtures/full.yaml', import.meta.url)));
    expect(leaves(valueTree(config))).toEqual(leaves(TYPE_KEYS as unknown as Tree));
    expect(config.flowState).toEqual({
      push: false,
      clusterKeyFile: fileURLToPath(new URL('./fixtures/full.key', import.meta.url)),
      clusterKey: 'fixture-cluster-key-0123456789',
      stateDir: '/var/lib/tollgate-test',
    });
  });
});
