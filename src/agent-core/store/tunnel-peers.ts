// The tunnel IPs of every registered host (/state/hosts/*): the underlay sources an agent's tunnel
// accepts. A child watch on the hosts directory finds hosts, HostStateView watches each record.
// DESIGN: Store (/state/hosts/{hostId}; serve from cache while the session is down); Tunnels.
import { isIP } from 'node:net';
import type { Id } from '../topology/index.js';
import type { HostStateView } from './host-state.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, StorePaths } from './paths.js';
import type { ZkClient } from './zk-client.js';

export type TunnelPeersListener = (tunnelIps: ReadonlySet<string>) => void;

/**
 * Keeps the set of all registered hosts' tunnel IPs. Until the first listing completes the set is
 * undefined (callers accept any source meanwhile); after that the last known set is served, also
 * while the session is down, and a reconnect lists again.
 */
export class TunnelPeers {
  private readonly dir: string;
  private readonly log: Logger;
  private started = false;
  /** Hosts of the last successful listing; undefined before the first. */
  private hostIds: readonly Id[] | undefined;
  private current: ReadonlySet<string> | undefined;
  private listing = false;
  private listAgain = false;
  private waiters: (() => void)[] = [];
  private listeners: readonly TunnelPeersListener[] = [];
  /** Unusable tunnel IPs already logged (each once). */
  private readonly reported = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly zk: ZkClient,
    private readonly hosts: HostStateView,
    options: { readonly root?: string; readonly logger?: Logger } = {},
  ) {
    this.dir = new StorePaths(options.root).hostsDir();
    this.log = storeLogger(options.logger, 'tunnel-peers');
    this.unsubscribe.push(
      zk.onWatch((e) => {
        if (this.started && e.path === this.dir) void this.list();
      }),
      zk.onState((s) => {
        if (this.started && s === 'connected') void this.list();
      }),
      hosts.onChange((c) => {
        if (c.kind === 'host') this.recompute();
      }),
    );
  }

  /** Starts listing and watching the hosts directory (idempotent). */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.list();
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The registered hosts' tunnel IPs; undefined until the first listing completes. */
  tunnelIps(): ReadonlySet<string> | undefined {
    return this.current;
  }

  async ensure(): Promise<ReadonlySet<string>> {
    this.start();
    if (this.current === undefined) await new Promise<void>((r) => this.waiters.push(r));
    return this.current as ReadonlySet<string>;
  }

  /** Called with the new set after the first listing and whenever the set changes. */
  onChange(listener: TunnelPeersListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Lists the hosts with a new child watch (one-shot: every notification re-arms it here). */
  private async list(): Promise<void> {
    if (this.listing) {
      this.listAgain = true;
      return;
    }
    this.listing = true;
    try {
      do {
        this.listAgain = false;
        const res = await this.zk.getChildren(this.dir, true);
        // No hosts directory yet: an exists watch reports its creation.
        if (res === undefined && (await this.zk.exists(this.dir, true)) !== undefined) this.listAgain = true;
        const ids = (res?.children ?? []).map(decodeId);
        await Promise.all(ids.map((id) => this.hosts.ensureHost(id)));
        this.hostIds = ids;
      } while (this.listAgain);
    } catch (err) {
      this.log.warn({ err }, 'listing the hosts failed; serving the last known tunnel peers until the next session event');
      return;
    } finally {
      this.listing = false;
    }
    this.recompute();
    for (const w of this.waiters.splice(0)) w();
  }

  private recompute(): void {
    if (this.hostIds === undefined) return;
    const ips = new Set<string>();
    for (const id of this.hostIds) {
      const h = this.hosts.host(id);
      if (h === undefined || h === null || !h.alive) continue;
      if (isIP(h.tunnelIp) === 0) {
        if (!this.reported.has(h.tunnelIp)) this.log.error({ hostId: id, tunnelIp: h.tunnelIp }, `host ${id} registered a tunnel IP that is not an address: ignored`);
        this.reported.add(h.tunnelIp);
        continue;
      }
      ips.add(h.tunnelIp);
    }
    if (this.current !== undefined && sameSet(this.current, ips)) return;
    this.current = ips;
    for (const l of this.listeners) l(ips);
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
