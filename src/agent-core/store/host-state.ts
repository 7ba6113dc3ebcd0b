// Host registration and port active state: ephemeral znodes a host owns (re-created by it after a
// session expiry) and a watched view of every host's. DESIGN: Store (/state/hosts/{hostId},
// /state/ports/{portId}/active); Tunnels (a port's tunnel key is published by the host binding it).
import type { Id } from '../topology/index.js';
import { decodeState, encodeState, type Decoded } from './codec.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, StorePaths } from './paths.js';
import { WatchedNodes } from './watched-nodes.js';
import { zkErrorCode, ZK_NODE_EXISTS, ZK_NO_NODE, type ZkClient } from './zk-client.js';

export interface HostRecord {
  readonly hostId: Id;
  readonly alive: boolean;
  /** The address other hosts tunnel to. */
  readonly tunnelIp: string;
  readonly agentVersion: string;
}

export interface PortActiveRecord {
  readonly portId: Id;
  /** The host that binds the port. */
  readonly hostId: Id;
  /** The 24-bit tunnel key naming the port on that host. */
  readonly tunnelKey: number;
}

/** This host's own ephemeral state, kept in ZooKeeper for as long as the host lives. */
export class HostState {
  private readonly paths: StorePaths;
  private readonly log: Logger;
  private registered = false;
  private readonly activePorts = new Map<Id, number>();
  private readonly offState: () => void;

  constructor(
    private readonly zk: ZkClient,
    private readonly host: Omit<HostRecord, 'alive'>,
    options: { readonly root?: string; readonly logger?: Logger } = {},
  ) {
    this.paths = new StorePaths(options.root);
    this.log = storeLogger(options.logger, 'host-state');
    this.offState = zk.onState((state, { newSession }) => {
      if (state === 'connected' && newSession) {
        void this.recreate().catch((err: unknown) => this.log.error({ err }, 're-creating host state after session expiry failed'));
      }
    });
  }

  async register(): Promise<void> {
    await this.zk.mkdirp(this.paths.hostsDir());
    this.registered = true;
    await this.writeEphemeral(this.paths.host(this.host.hostId), encodeState('host', { ...this.host, alive: true }));
  }

  async setPortActive(portId: Id, tunnelKey: number): Promise<void> {
    this.activePorts.set(portId, tunnelKey);
    await this.zk.mkdirp(this.paths.portStateDir(portId));
    await this.writeEphemeral(this.paths.portActive(portId), this.portData(portId, tunnelKey));
  }

  async clearPortActive(portId: Id): Promise<void> {
    this.activePorts.delete(portId);
    await this.removeIfMine(this.paths.portActive(portId));
  }

  /** Removes the host's registration and port state (a clean shutdown; a crash does the same by session loss). */
  async unregister(): Promise<void> {
    this.registered = false;
    const ports = [...this.activePorts.keys()];
    this.activePorts.clear();
    await Promise.all(ports.map((p) => this.removeIfMine(this.paths.portActive(p))));
    await this.removeIfMine(this.paths.host(this.host.hostId));
  }

  close(): void {
    this.offState();
  }

  /** After an expiry the session's ephemerals are gone everywhere: write them again. */
  private async recreate(): Promise<void> {
    if (this.registered) await this.register();
    for (const [portId, key] of this.activePorts) await this.setPortActive(portId, key);
    this.log.info({ ports: this.activePorts.size }, 're-created host state in the new session');
  }

  private portData(portId: Id, tunnelKey: number): Buffer {
    return encodeState('port', { portId, hostId: this.host.hostId, tunnelKey });
  }

  /**
   * Creates or updates an ephemeral node of this session. A node left by an older session of this
   * host (a restart within the session timeout) is replaced rather than waited out.
   */
  private async writeEphemeral(path: string, data: Buffer): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.zk.create(path, data, 'ephemeral');
        return;
      } catch (e) {
        if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
      }
      const cur = await this.zk.getData(path);
      if (cur === undefined) continue;
      try {
        if (cur.stat.ephemeralOwner.equals(this.zk.sessionId)) {
          if (!cur.data.equals(data)) await this.zk.setData(path, data, cur.stat.version);
          return;
        }
        await this.zk.remove(path, cur.stat.version);
      } catch (e) {
        if (zkErrorCode(e) !== ZK_NO_NODE) throw e;
      }
    }
    throw new Error(`could not take ${path}: another session keeps re-creating it`);
  }

  private async removeIfMine(path: string): Promise<void> {
    const cur = await this.zk.getData(path);
    if (cur === undefined || !cur.stat.ephemeralOwner.equals(this.zk.sessionId)) return;
    try {
      await this.zk.remove(path, cur.stat.version);
    } catch (e) {
      if (zkErrorCode(e) !== ZK_NO_NODE) throw e;
    }
  }
}

export type HostStateChange =
  | { readonly kind: 'host'; readonly hostId: Id; readonly record: HostRecord | null }
  | { readonly kind: 'port'; readonly portId: Id; readonly record: PortActiveRecord | null };

/** Every agent's view of other hosts and of which host binds each port, loaded on demand and watched. */
export class HostStateView {
  private readonly paths: StorePaths;
  private readonly hostsNodes: WatchedNodes<HostRecord>;
  private readonly portNodes: WatchedNodes<PortActiveRecord>;

  constructor(zk: ZkClient, options: { readonly root?: string; readonly logger?: Logger } = {}) {
    this.paths = new StorePaths(options.root);
    const log = storeLogger(options.logger, 'host-state');
    this.hostsNodes = new WatchedNodes(zk, (d) => decodeRecord<HostRecord>(d, 'host', isHostRecord), log);
    this.portNodes = new WatchedNodes(zk, (d) => decodeRecord<PortActiveRecord>(d, 'port', isPortRecord), log);
  }

  close(): void {
    this.hostsNodes.close();
    this.portNodes.close();
  }

  /** null = not registered (or its session died); undefined = loading. */
  host(hostId: Id): HostRecord | null | undefined {
    return this.hostsNodes.get(this.paths.host(hostId));
  }

  ensureHost(hostId: Id): Promise<HostRecord | null> {
    return this.hostsNodes.ensure(this.paths.host(hostId));
  }

  /** Which host binds the port and its tunnel key; null = not active anywhere; undefined = loading. */
  portActive(portId: Id): PortActiveRecord | null | undefined {
    return this.portNodes.get(this.paths.portActive(portId));
  }

  ensurePortActive(portId: Id): Promise<PortActiveRecord | null> {
    return this.portNodes.ensure(this.paths.portActive(portId));
  }

  onChange(listener: (change: HostStateChange) => void): () => void {
    const offHosts = this.hostsNodes.onChange((path, record) => {
      listener({ kind: 'host', hostId: decodeId(path.slice(path.lastIndexOf('/') + 1)), record });
    });
    const offPorts = this.portNodes.onChange((path, record) => {
      const dir = path.slice(0, path.lastIndexOf('/'));
      listener({ kind: 'port', portId: decodeId(dir.slice(dir.lastIndexOf('/') + 1)), record });
    });
    return () => {
      offHosts();
      offPorts();
    };
  }
}

function decodeRecord<T>(data: Buffer, field: string, check: (v: unknown) => v is T): Decoded<T> {
  const env = decodeState(data, field);
  if (!env.ok) return env;
  return check(env.value) ? { ok: true, value: Object.freeze(env.value) } : { ok: false, error: `"${field}" has missing or mistyped fields` };
}

function isHostRecord(v: unknown): v is HostRecord {
  const r = v as Partial<HostRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.hostId === 'string' && typeof r.alive === 'boolean' && typeof r.tunnelIp === 'string' && typeof r.agentVersion === 'string';
}

function isPortRecord(v: unknown): v is PortActiveRecord {
  const r = v as Partial<PortActiveRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.portId === 'string' && typeof r.hostId === 'string' && Number.isInteger(r.tunnelKey);
}
