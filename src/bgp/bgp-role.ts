// The BGP gateway role: one supervised gobgpd configured from the uplinks' BGP settings, its best
// paths imported into the store as learned routes of the provider router, the router's prefixes
// exported, reloads applied as differences, and a status for the REST API. DESIGN: BGP; Gateway roles.
import type { Logger } from 'pino';
import { storeLogger } from '../agent-core/store/index.js';
import { globalToApi, peerStatusFromApi, type PeerSessionStatus } from './api-peers.js';
import { canonicalAddress, DEFAULT_MAX_PREFIX_RESTART_SECONDS, validateBgpConfig, type BgpConfig, type BgpGlobalConfig, type BgpPeerConfig } from './config.js';
import { BgpPeerApplyError, GobgpUnavailableError } from './errors.js';
import type { ApiPeer } from './gobgp-api-types.js';
import type { GobgpClient } from './gobgp-client.js';
import { GobgpdSupervisor, type GobgpdExit, type GobgpdState, type GobgpdSupervisorOptions } from './gobgpd-supervisor.js';
import type { ImportPeer } from './learned-route-table.js';
import type { PeerPlan } from './peer-plan.js';
import { PeerReconciler } from './peer-reconciler.js';
import { RouteExporter } from './route-exporter.js';
import { RouteImporter, type LearnedRoutesSink } from './route-importer.js';

export interface BgpRoleOptions {
  /** How to run gobgpd (binary, API endpoint, namespace, backoff); the role supplies configure/onExit. */
  readonly gobgpd: Omit<GobgpdSupervisorOptions, 'configure' | 'onExit' | 'logger'>;
  /** The store's LearnedRoutesWriter of this gateway for the provider router. */
  readonly routes: LearnedRoutesSink;
  readonly logger?: Logger;
}

export interface BgpPeerStatus extends PeerSessionStatus {
  readonly uplink: string;
  readonly uplinkPortId: string;
  /** Prefixes of this peer written to the store, and best paths held back by a 'drop' limit. */
  readonly imported: number;
  readonly held: number;
}

export interface BgpStatus {
  readonly gobgpd: { readonly state: GobgpdState; readonly pid: number | undefined; readonly restarts: number; readonly uptimeSeconds: number | undefined };
  readonly peers: readonly BgpPeerStatus[];
  readonly advertised: readonly string[];
  readonly importedPrefixes: number;
}

export class BgpRole {
  private readonly log: Logger;
  private readonly supervisor: GobgpdSupervisor;
  private readonly importer: RouteImporter;
  private readonly exporter: RouteExporter;
  private readonly reconciler: PeerReconciler;
  private config: BgpConfig | undefined;
  /** Peer changes one at a time: reloads and (re)starts must not interleave. */
  private peerOps: Promise<unknown> = Promise.resolve();
  private readonly limitTimers = new Map<string, NodeJS.Timeout>();

  constructor(options: BgpRoleOptions) {
    this.log = storeLogger(options.logger, 'bgp');
    this.importer = new RouteImporter({ sink: options.routes, logger: options.logger, onPeerState: (p) => this.onPeerState(p) });
    this.exporter = new RouteExporter({ logger: options.logger });
    this.reconciler = new PeerReconciler(this.log);
    this.supervisor = new GobgpdSupervisor({
      ...options.gobgpd,
      logger: options.logger,
      configure: (client, generation) => this.configure(client, generation),
      onExit: (exit) => this.onGobgpdExit(exit),
    });
  }

  /** The running gobgpd's client (for diagnostics and benchmarks); undefined while none runs. */
  get client(): GobgpClient | undefined {
    return this.supervisor.client;
  }

  get gobgpdPid(): number | undefined {
    return this.supervisor.pid;
  }

  /** Import counters without a call to gobgpd: prefixes with a best path, paths seen, store writes. */
  get importStats(): { readonly prefixes: number; readonly paths: number; readonly writes: number } {
    return { prefixes: this.importer.prefixCount, paths: this.importer.pathsSeen, writes: this.importer.writes };
  }

  /** Validates the config, starts gobgpd and configures it; throws BgpConfigError or GobgpdStartError. */
  async start(config: BgpConfig): Promise<void> {
    this.config = validateBgpConfig(config);
    this.importer.setPeers(importPeers(config));
    await this.supervisor.start();
  }

  /**
   * Applies a changed config as a difference: untouched peers keep their sessions; a changed global
   * section (ASN, router id, port, multipath) restarts gobgpd, which resets every session. Returns
   * what was done: the peer plan, 'restarted', or 'deferred' when no gobgpd runs right now (the
   * next one is configured from this config).
   */
  async reload(config: BgpConfig): Promise<PeerPlan | 'restarted' | 'deferred'> {
    const next = validateBgpConfig(config);
    const old = this.config;
    this.config = next;
    this.importer.setPeers(importPeers(next));
    for (const [key, t] of this.limitTimers) {
      if (!next.peers.some((p) => canonicalAddress(p.address) === key)) {
        clearTimeout(t);
        this.limitTimers.delete(key);
      }
    }
    if (old !== undefined && !sameGlobal(old.global, next.global)) {
      this.log.warn('global BGP settings changed: restarting gobgpd (every session resets)');
      await this.supervisor.restart();
      return 'restarted';
    }
    return this.serialPeerOp(async (): Promise<PeerPlan | 'deferred'> => {
      const client = this.supervisor.client;
      if (client === undefined) return 'deferred';
      try {
        return await this.reconciler.apply(client, next.peers, next.global.asn);
      } catch (err) {
        if (err instanceof GobgpUnavailableError) return 'deferred';
        throw err;
      }
    });
  }

  /** The prefixes to announce to every peer (desired set; only the difference reaches gobgpd). */
  advertise(prefixes: readonly string[]): Promise<void> {
    return this.exporter.advertise(prefixes).catch((err: unknown) => {
      // gobgpd went away mid-way: its successor gets the whole set.
      if (!(err instanceof GobgpUnavailableError)) throw err;
    });
  }

  /** Stops gobgpd (peers get a Cease) and withdraws the learned routes from the store. */
  async stop(): Promise<void> {
    for (const t of this.limitTimers.values()) clearTimeout(t);
    this.limitTimers.clear();
    this.importer.detach();
    await this.supervisor.stop();
    this.exporter.detach();
    this.reconciler.reset();
    this.importer.withdrawAll();
    await this.importer.whenWritten();
    this.importer.close();
  }

  /** Resolves once the learned routes seen so far are written to the store. */
  whenRoutesWritten(): Promise<void> {
    return this.importer.whenWritten();
  }

  async status(): Promise<BgpStatus> {
    const client = this.supervisor.client;
    let apiPeers: ApiPeer[] = [];
    if (client !== undefined) {
      try {
        apiPeers = await client.listPeers();
      } catch (err) {
        this.log.debug({ err }, 'listing peers for the status failed');
      }
    }
    const now = Date.now();
    const byAddress = new Map(apiPeers.map((p) => [canonicalAddress(p.conf?.neighbor_address ?? ''), p]));
    const peers = (this.config?.peers ?? []).map((p): BgpPeerStatus => {
      const api = byAddress.get(canonicalAddress(p.address));
      const session: PeerSessionStatus = api !== undefined ? peerStatusFromApi(api, now) : { address: p.address, asn: p.asn, state: 'unknown', adminState: 'up', uptimeSeconds: undefined, flaps: 0, families: [] };
      const counts = this.importer.countsOf(p.address);
      return { ...session, address: p.address, uplink: p.uplink, uplinkPortId: p.uplinkPortId, imported: counts?.imported ?? 0, held: counts?.held ?? 0 };
    });
    const since = this.supervisor.since;
    return {
      gobgpd: { state: this.supervisor.state, pid: this.supervisor.pid, restarts: this.supervisor.restarts, uptimeSeconds: since > 0 ? Math.floor((now - since) / 1000) : undefined },
      peers,
      advertised: this.exporter.advertised(),
      importedPrefixes: this.importer.prefixCount,
    };
  }

  // --- internals ---

  /** A new gobgpd: global settings, then the watch (so no path is missed), then peers and paths. */
  private async configure(client: GobgpClient, generation: number): Promise<void> {
    const config = this.config;
    if (config === undefined) throw new Error('BgpRole: configure before start');
    await client.startBgp(globalToApi(config.global));
    this.importer.attach(client);
    await this.serialPeerOp(async () => {
      this.reconciler.reset();
      try {
        const now = this.config ?? config;
        await this.reconciler.apply(client, now.peers, now.global.asn);
      } catch (err) {
        // A refused peer must not keep the others down; it is logged and retried on the next reload.
        if (!(err instanceof BgpPeerApplyError)) throw err;
      }
    });
    await this.exporter.attach(client).catch((err: unknown) => {
      // A dead gobgpd restarts anyway; a refused path must not restart it in a loop.
      if (err instanceof GobgpUnavailableError) throw err;
      this.log.error({ err }, `gobgpd refused an advertised prefix: ${(err as Error).message}`);
    });
    this.log.info({ generation, peers: config.peers.length, advertised: this.exporter.advertised().length }, 'gobgpd configured');
  }

  private onGobgpdExit(exit: GobgpdExit): void {
    this.log.error({ ...exit }, 'gobgpd died: its sessions are gone, withdrawing the learned routes');
    this.importer.detach();
    this.importer.withdrawAll();
    this.exporter.detach();
    for (const t of this.limitTimers.values()) clearTimeout(t);
    this.limitTimers.clear();
  }

  /** gobgpd shut a peer down for exceeding its maximum prefixes ('restart'): re-enable it later. */
  private onPeerState(peer: ApiPeer): void {
    if (peer.state?.admin_state !== 'PFX_CT') return;
    const address = peer.state.neighbor_address;
    const key = canonicalAddress(address);
    const conf = this.config?.peers.find((p) => canonicalAddress(p.address) === key);
    if (conf?.maxPrefixes?.action !== 'restart' || this.limitTimers.has(key)) return;
    const seconds = conf.maxPrefixes.restartAfterSeconds ?? DEFAULT_MAX_PREFIX_RESTART_SECONDS;
    this.log.warn({ peer: address, limit: conf.maxPrefixes.limit }, `peer ${address} exceeded its maximum of ${conf.maxPrefixes.limit} prefixes: session closed, restarting it in ${seconds} s`);
    this.limitTimers.set(
      key,
      setTimeout(() => {
        this.limitTimers.delete(key);
        const client = this.supervisor.client;
        if (client === undefined) return;
        client.enablePeer(address).then(
          () => this.log.info({ peer: address }, `peer ${address} re-enabled after its prefix limit`),
          (err: unknown) => this.log.error({ peer: address, err }, `re-enabling peer ${address} failed`),
        );
      }, seconds * 1000),
    );
  }

  private serialPeerOp<T>(op: () => Promise<T>): Promise<T> {
    const run = this.peerOps.then(op);
    this.peerOps = run.catch(() => undefined);
    return run;
  }
}

function importPeers(config: BgpConfig): ImportPeer[] {
  return config.peers.map((p: BgpPeerConfig) => ({ address: p.address, uplinkPortId: p.uplinkPortId, useNextHop: p.multihop !== undefined, maxPrefixes: p.maxPrefixes }));
}

function sameGlobal(a: BgpGlobalConfig, b: BgpGlobalConfig): boolean {
  return JSON.stringify(globalToApi(a)) === JSON.stringify(globalToApi(b));
}
