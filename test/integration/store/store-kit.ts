// Shared pieces of the store's integration tests: a ZooKeeper per test file, clients that are
// closed after each file, small topology fixtures, and polling for asynchronous propagation.
import { Writable } from 'node:stream';
import { connect, createServer, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { ZkClient, type ZkClientOptions } from '../../../src/agent-core/store/index.js';
import type { Bridge, Chain, Port, Router, Rule } from '../../../src/agent-core/topology/index.js';
import { startZooKeeper, type ZooKeeperServer } from '../../helpers/zookeeper.js';

export interface StoreWorld {
  zk: ZooKeeperServer;
  clients: ZkClient[];
  /** A client of the test's ZooKeeper (or of `connectionString`, e.g. a proxy in front of it). */
  connect(options?: ZkClientOptions & { readonly connectionString?: string }): Promise<ZkClient>;
  /** A root unique to one test, so tests in a file do not see each other's znodes. */
  root(): string;
  teardown(): Promise<void>;
}

let roots = 0;

export async function startWorld(): Promise<StoreWorld> {
  const zk = await startZooKeeper();
  const clients: ZkClient[] = [];
  return {
    zk,
    clients,
    async connect(options: ZkClientOptions & { readonly connectionString?: string } = {}) {
      const c = await ZkClient.connect(options.connectionString ?? zk.connectionString, { sessionTimeoutMs: 4000, logger: quietLogger(), ...options });
      clients.push(c);
      return c;
    },
    root: () => `/t${++roots}`,
    async teardown() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await zk.stop();
    },
  };
}

/** A pino logger that keeps records in memory (for asserting logged errors) and prints nothing. */
export function capturingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

export function quietLogger(): Logger {
  return pino({ level: 'silent' });
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP proxy in front of ZooKeeper whose link can be cut, as a network partition would. */
export interface Partitionable {
  readonly connectionString: string;
  /** Drops every connection through the proxy and refuses new ones. */
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startProxy(world: StoreWorld): Promise<Partitionable> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: world.zk.host, port: world.zk.port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    connectionString: `127.0.0.1:${port}`,
    partition() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      cut = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Expires a client's session the way production sees it: its link to ZooKeeper is cut for longer
 * than the session timeout, so the server expires the session, and the client learns it on
 * reconnecting. The client must have connected through `proxy`.
 */
export async function expireSession(proxy: Partitionable, victim: ZkClient, sessionTimeoutMs: number): Promise<void> {
  const generation = victim.sessionGeneration;
  proxy.partition();
  await sleep(sessionTimeoutMs + 1500);
  proxy.heal();
  await waitFor('a new session after expiry', () => victim.sessionGeneration > generation && victim.state === 'connected', 20_000);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- fixtures ---

export function bridge(id: string, extra: Partial<Bridge> = {}): Bridge {
  return { type: 'bridge', id, adminStateUp: true, ...extra };
}

export function router(id: string, extra: Partial<Router> = {}): Router {
  return { type: 'router', id, adminStateUp: true, ...extra };
}

export function bridgePort(id: string, bridgeId: string, extra: Partial<Port> = {}): Port {
  return { type: 'port', id, deviceId: bridgeId, deviceType: 'bridge', adminStateUp: true, ...extra };
}

let macs = 0;
export function routerPort(id: string, routerId: string, address: string, extra: Partial<Port> = {}): Port {
  macs++;
  const mac = `02:00:00:00:${((macs >> 8) & 255).toString(16).padStart(2, '0')}:${(macs & 255).toString(16).padStart(2, '0')}`;
  return { type: 'port', id, deviceId: routerId, deviceType: 'router', adminStateUp: true, addresses: [address], mac, ...extra };
}

export function chain(id: string, ruleIds: string[] = []): Chain {
  return { type: 'chain', id, ruleIds };
}

export function acceptRule(id: string, chainId: string): Rule {
  return { id, chainId, kind: 'literal', action: 'accept', condition: {} };
}
