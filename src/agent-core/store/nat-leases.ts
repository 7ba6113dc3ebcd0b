// SNAT port-block leases: a host leases 64-port blocks of a NAT IP (1024 blocks an IP) as ephemeral
// znodes — the create is the arbiter between racing hosts — choosing never-used blocks first, then
// the least recently used (recorded in the IP's persistent znode so LRU survives restarts), and
// allocates ports from its own blocks for the simulator. DESIGN: Store (/nat/{deviceId}/{ip}/{block}).
import { formatIp, type IpAddr } from '../packet/addr.js';
import type { NatPortAllocator } from '../simulation/types.js';
import type { Id } from '../topology/index.js';
import { decodeState, encodeState } from './codec.js';
import { ConcurrentModificationError, NatBlocksExhaustedError } from './errors.js';
import { storeLogger, type Logger } from './log.js';
import { StorePaths } from './paths.js';
import { blockOfPort, NAT_BLOCK_SIZE, NatPortIndex } from './nat-port-index.js';
import { zkErrorCode, ZK_BAD_VERSION, ZK_NODE_EXISTS, ZK_NO_NODE, type ZkClient } from './zk-client.js';

export { NAT_BLOCK_SIZE, blockOfPort } from './nat-port-index.js';
export const NAT_BLOCKS_PER_IP = 1024;

export interface NatLeaseLost {
  readonly deviceId: Id;
  readonly ip: string;
  readonly block: number;
  /** Ports this host had in use in the block: their flows now collide with the new owner's. */
  readonly usedPorts: readonly number[];
}

export interface NatLeasesOptions {
  readonly root?: string;
  readonly logger?: Logger;
  /** How long a block with no port in use is kept before it is released (0: at once). */
  readonly releaseIdleAfterMs?: number;
  readonly maxAttempts?: number;
  /**
   * Lease blocks ahead of demand (the agent does): when the free ports of an IP this host uses fall
   * to a spare (one block to start with), more blocks are leased in the background, so that new
   * flows rarely wait for ZooKeeper. Every time a simulation still finds no free port, the spare
   * doubles (up to MAX_SPARE_BLOCKS); it halves again when demand pauses. Default false: blocks
   * are leased only when leaseNatBlock is called.
   */
  readonly leaseAhead?: boolean;
  /**
   * After a lease found every block of an IP (in the asked range) leased, how long the IP counts as
   * exhausted: simulations drop the connections that need its ports instead of waiting, and no
   * lease is tried until then (default EXHAUSTED_RETRY_MS).
   */
  readonly exhaustedRetryMs?: number;
}

/** The blocks this host holds of one IP, and its lease-ahead state. */
interface IpLeases {
  readonly deviceId: Id;
  readonly ip: IpAddr;
  readonly ipText: string;
  readonly ports: NatPortIndex;
  /** Blocks with no port in use, waiting out releaseIdleAfterMs. */
  readonly releaseTimers: Map<number, NodeJS.Timeout>;
  /** The lease ahead in flight. */
  ahead: Promise<void> | undefined;
  /** Free ports to keep (lease ahead only). */
  spare: number;
  /** The port range the last on-demand lease asked for: leases ahead take blocks in it. */
  portFrom: number;
  portTo: number;
  lastAheadAt: number;
  /** Until when (performance.now()) the range [exhaustedFrom, exhaustedTo] counts as exhausted. */
  exhaustedUntil: number;
  exhaustedFrom: number;
  exhaustedTo: number;
  /** When exhaustion was last logged (a warning a minute at most per IP). */
  exhaustedLoggedAt: number;
}

/** Lease ahead: at most this many blocks kept spare per IP, and this many leased in one transaction. */
const MAX_SPARE_BLOCKS = 32;
/** Lease ahead: a pause in demand this long halves the spare. */
const SPARE_DECAY_MS = 5_000;

/** How long an IP found with every block leased counts as exhausted before a lease is tried again. */
export const EXHAUSTED_RETRY_MS = 1_000;
/** Exhaustion of one IP is logged once in this long at most. */
const EXHAUSTED_LOG_INTERVAL_MS = 60_000;

/** block → last use (ms since epoch), kept in the IP's persistent znode. */
type LruRecord = Record<string, number>;

export class NatLeases implements NatPortAllocator {
  private readonly paths: StorePaths;
  private readonly log: Logger;
  private readonly leases = new Map<Id, Map<IpAddr, IpLeases>>();
  /** IP directories known to exist (created or seen): no mkdirp round trips per lease. */
  private readonly dirsMade = new Set<string>();
  private readonly releaseAfter: number;
  private readonly maxAttempts: number;
  private readonly leaseAhead: boolean;
  private readonly exhaustedRetryMs: number;
  private lostListeners: readonly ((l: NatLeaseLost) => void)[] = [];
  private readonly offState: () => void;

  constructor(
    private readonly zk: ZkClient,
    options: NatLeasesOptions = {},
  ) {
    this.paths = new StorePaths(options.root);
    this.log = storeLogger(options.logger, 'nat-leases');
    this.releaseAfter = options.releaseIdleAfterMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 64;
    this.leaseAhead = options.leaseAhead ?? false;
    this.exhaustedRetryMs = options.exhaustedRetryMs ?? EXHAUSTED_RETRY_MS;
    this.offState = zk.onState((state, { newSession }) => {
      if (state === 'connected' && newSession) {
        void this.recreate().catch((err: unknown) => this.log.error({ err }, 're-creating NAT leases after session expiry failed'));
      }
    });
  }

  close(): void {
    this.offState();
    for (const m of this.leases.values()) for (const l of m.values()) this.clearReleaseTimers(l);
  }

  // --- NatPortAllocator (pure: no mutation) ---

  pickPort(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number, flowHash: number): number | undefined {
    return this.leases.get(deviceId)?.get(ip)?.ports.pick(portFrom, portTo, flowHash);
  }

  exhausted(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number): boolean {
    const l = this.leases.get(deviceId)?.get(ip);
    return l !== undefined && isExhausted(l, portFrom, portTo);
  }

  // --- the shell's side ---

  /** Blocks this host holds for the IP, ascending. */
  leasedBlocks(deviceId: Id, ip: IpAddr): number[] {
    return this.leases.get(deviceId)?.get(ip)?.ports.blockNumbers() ?? [];
  }

  /**
   * Leases one more block of the IP intersecting [portFrom, portTo] (for NotYet natBlock): never
   * used blocks first, then the least recently used. Returns the block number.
   */
  async leaseNatBlock(deviceId: Id, ip: IpAddr, portFrom = 1, portTo = 65535): Promise<number> {
    const l = this.ipLeases(deviceId, ip);
    l.portFrom = portFrom;
    l.portTo = portTo;
    if (this.leaseAhead) {
      // A simulation found no free port: the spare was too small for this rate.
      l.spare = Math.min(l.spare * 2, MAX_SPARE_BLOCKS * NAT_BLOCK_SIZE);
      if (l.ahead !== undefined) {
        await l.ahead;
        const port = l.ports.pick(portFrom, portTo, 0);
        if (port !== undefined) return blockOfPort(port);
      }
    }
    return (await this.leaseBlocks(l, 1, portFrom, portTo))[0]!;
  }

  /** Leases `count` blocks of the IP in one transaction (fewer if fewer are left, none throws). */
  private async leaseBlocks(l: IpLeases, count: number, portFrom: number, portTo: number): Promise<number[]> {
    const { deviceId, ipText } = l;
    const dir = this.paths.natIpDir(deviceId, ipText);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (!this.dirsMade.has(dir)) {
        await this.zk.mkdirp(dir);
        this.dirsMade.add(dir);
      }
      const [kids, rec] = await Promise.all([this.zk.getChildren(dir), this.zk.getData(dir)]);
      if (kids === undefined || rec === undefined) {
        this.dirsMade.delete(dir);
        continue;
      }
      const held = new Set(kids.children.map(Number));
      const lru = decodeLru(rec.data);
      const candidates: number[] = [];
      for (let b = blockOfPort(Math.max(0, portFrom)); b <= Math.min(NAT_BLOCKS_PER_IP - 1, blockOfPort(portTo)); b++) {
        if (!held.has(b)) candidates.push(b);
      }
      if (candidates.length === 0) {
        this.markExhausted(l, portFrom, portTo);
        throw new NatBlocksExhaustedError(deviceId, ipText);
      }
      candidates.sort((a, b) => (lru[a] ?? -1) - (lru[b] ?? -1) || a - b);
      const picks = pickSpread(candidates, Math.min(count, candidates.length), attempt);
      const now = Date.now();
      const used: LruRecord = { ...lru };
      for (const b of picks) used[b] = now;
      try {
        await this.zk.multi([
          ...picks.map((b) => ({ op: 'create' as const, path: this.paths.natBlock(deviceId, ipText, b), mode: 'ephemeral' as const })),
          { op: 'setData', path: dir, data: encodeLru(used), version: rec.stat.version },
        ]);
      } catch (e) {
        const code = zkErrorCode(e);
        if (code === ZK_NODE_EXISTS || code === ZK_BAD_VERSION) {
          await sleep(Math.random() * Math.min(2 ** attempt, 20));
          continue;
        }
        throw e;
      }
      for (const b of picks) l.ports.add(b);
      l.exhaustedUntil = -Infinity;
      return picks;
    }
    throw new ConcurrentModificationError(this.maxAttempts, `leasing a NAT block of ${ipText} on ${deviceId}`);
  }

  /**
   * Takes back a specific block after a restart (bindings restored from disk use its ports); false
   * when another host holds it now (those bindings cannot be kept).
   */
  async reclaimNatBlock(deviceId: Id, ip: IpAddr, block: number): Promise<boolean> {
    const l = this.ipLeases(deviceId, ip);
    if (l.ports.has(block)) return true;
    await this.zk.mkdirp(this.paths.natIpDir(deviceId, l.ipText));
    try {
      await this.zk.create(this.paths.natBlock(deviceId, l.ipText, block), Buffer.alloc(0), 'ephemeral');
    } catch (e) {
      if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
      // Ours from the previous session (not expired yet) or another host's: only the former is ours to keep.
      const cur = await this.zk.getData(this.paths.natBlock(deviceId, l.ipText, block));
      if (cur === undefined || !cur.stat.ephemeralOwner.equals(this.zk.sessionId)) return false;
    }
    l.ports.add(block);
    return true;
  }

  /** Marks a port of one of this host's blocks in use (the shell applies the simulation's nat state change). */
  markPortUsed(deviceId: Id, ip: IpAddr, port: number): boolean {
    const l = this.leases.get(deviceId)?.get(ip);
    if (l === undefined || !l.ports.has(blockOfPort(port))) return false;
    l.ports.markUsed(port);
    const timer = l.releaseTimers.get(blockOfPort(port));
    if (timer !== undefined) {
      clearTimeout(timer);
      l.releaseTimers.delete(blockOfPort(port));
    }
    if (this.leaseAhead && l.ahead === undefined && l.ports.freePorts <= l.spare && !isExhausted(l, l.portFrom, l.portTo)) this.startLeaseAhead(l);
    return true;
  }

  /** Marks a port free; a block left with no port in use is released after releaseIdleAfterMs. */
  markPortFree(deviceId: Id, ip: IpAddr, port: number): void {
    const l = this.leases.get(deviceId)?.get(ip);
    if (l === undefined || !l.ports.markFree(port) || l.ports.get(blockOfPort(port))!.used > 0) return;
    this.releaseWhenIdle(l, blockOfPort(port));
  }

  /** Gives a block back (its ports must be free) and records its last use for LRU. */
  async releaseNatBlock(deviceId: Id, ip: IpAddr, block: number): Promise<void> {
    const l = this.leases.get(deviceId)?.get(ip);
    const lease = l?.ports.get(block);
    if (l === undefined || lease === undefined || lease.used > 0) return;
    clearTimeout(l.releaseTimers.get(block));
    l.releaseTimers.delete(block);
    // Forget it first so that pickPort stops choosing it while the release is in flight.
    l.ports.delete(block);
    const dir = this.paths.natIpDir(deviceId, l.ipText);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const rec = await this.zk.getData(dir);
      if (rec === undefined) return;
      try {
        await this.zk.multi([
          { op: 'remove', path: this.paths.natBlock(deviceId, l.ipText, block) },
          { op: 'setData', path: dir, data: encodeLru({ ...decodeLru(rec.data), [block]: Date.now() }), version: rec.stat.version },
        ]);
        return;
      } catch (e) {
        const code = zkErrorCode(e);
        if (code === ZK_NO_NODE) return;
        if (code !== ZK_BAD_VERSION) throw e;
      }
    }
  }

  onLeaseLost(listener: (l: NatLeaseLost) => void): () => void {
    this.lostListeners = [...this.lostListeners, listener];
    return () => {
      this.lostListeners = this.lostListeners.filter((l) => l !== listener);
    };
  }

  // --- internals ---

  private ipLeases(deviceId: Id, ip: IpAddr): IpLeases {
    let m = this.leases.get(deviceId);
    if (m === undefined) this.leases.set(deviceId, (m = new Map()));
    let l = m.get(ip);
    if (l === undefined) {
      l = {
        deviceId, ip, ipText: formatIp(ip), ports: new NatPortIndex(), releaseTimers: new Map(), ahead: undefined,
        spare: NAT_BLOCK_SIZE, lastAheadAt: -Infinity, portFrom: 1, portTo: 65535,
        exhaustedUntil: -Infinity, exhaustedFrom: 0, exhaustedTo: -1, exhaustedLoggedAt: -Infinity,
      };
      m.set(ip, l);
    }
    return l;
  }

  /** Every block of the range is leased: simulations stop waiting for this IP's ports for a while (and are told why once a minute). */
  private markExhausted(l: IpLeases, portFrom: number, portTo: number): void {
    const now = performance.now();
    l.exhaustedUntil = now + this.exhaustedRetryMs;
    l.exhaustedFrom = portFrom;
    l.exhaustedTo = portTo;
    // A lease ahead may find the range taken while this host still has ports: nothing is dropped yet.
    if (l.ports.freePorts > 0 || now - l.exhaustedLoggedAt < EXHAUSTED_LOG_INTERVAL_MS) return;
    l.exhaustedLoggedAt = now;
    this.log.warn(
      { deviceId: l.deviceId, ip: l.ipText, portFrom, portTo, blocksHeld: l.ports.size },
      'SNAT address exhausted: every block of its port range is leased (by this host or others) and this host has no free port; ' +
        'new connections needing it are dropped (counter snatExhausted) until ports free up. Add target addresses to the SNAT rule.',
    );
  }

  private releaseWhenIdle(l: IpLeases, block: number): void {
    clearTimeout(l.releaseTimers.get(block));
    l.releaseTimers.delete(block);
    const release = (): void => {
      l.releaseTimers.delete(block);
      void this.releaseNatBlock(l.deviceId, l.ip, block).catch((err: unknown) => this.log.warn({ err, deviceId: l.deviceId, ip: l.ipText, block }, 'releasing a NAT block failed'));
    };
    if (this.releaseAfter <= 0) release();
    else {
      const timer = setTimeout(release, this.releaseAfter);
      timer.unref();
      l.releaseTimers.set(block, timer);
    }
  }

  private clearReleaseTimers(l: IpLeases): void {
    for (const t of l.releaseTimers.values()) clearTimeout(t);
    l.releaseTimers.clear();
  }

  /** Leases enough blocks in the background to bring the free ports to twice the spare. */
  private startLeaseAhead(l: IpLeases): void {
    const now = performance.now();
    if (now - l.lastAheadAt > SPARE_DECAY_MS) l.spare = Math.max(NAT_BLOCK_SIZE, l.spare / 2);
    l.lastAheadAt = now;
    const count = Math.min(MAX_SPARE_BLOCKS, Math.max(1, Math.ceil((2 * l.spare - l.ports.freePorts) / NAT_BLOCK_SIZE)));
    l.ahead = this.leaseBlocks(l, count, l.portFrom, l.portTo)
      .then((blocks) => {
        // Nobody may use them: they go back after the idle time like any block left empty.
        for (const b of blocks) if (l.ports.get(b)?.used === 0) this.releaseWhenIdle(l, b);
      })
      .catch((err: unknown) => {
        // Exhaustion was logged where it was found (markExhausted).
        if (!(err instanceof NatBlocksExhaustedError)) this.log.warn({ err, deviceId: l.deviceId, ip: l.ipText }, 'leasing NAT blocks ahead failed');
      })
      .finally(() => {
        l.ahead = undefined;
      });
  }

  /** After an expiry: take our blocks back, unless another host leased one in the meantime. */
  private async recreate(): Promise<void> {
    this.dirsMade.clear();
    for (const m of this.leases.values()) {
      for (const l of m.values()) {
        for (const block of l.ports.blockNumbers()) {
          try {
            await this.zk.create(this.paths.natBlock(l.deviceId, l.ipText, block), Buffer.alloc(0), 'ephemeral');
          } catch (e) {
            if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
            const usedPorts = l.ports.usedPorts(block);
            l.ports.delete(block);
            clearTimeout(l.releaseTimers.get(block));
            l.releaseTimers.delete(block);
            const lost: NatLeaseLost = { deviceId: l.deviceId, ip: l.ipText, block, usedPorts };
            this.log.error(lost, 'NAT block lease lost during a session expiry: another host leased it');
            for (const listener of this.lostListeners) listener(lost);
          }
        }
      }
    }
  }
}

/**
 * `count` of the best candidates. Racing hosts would all want the first ones: after a lost race,
 * spread over a few more of the best.
 */
function pickSpread(candidates: readonly number[], count: number, attempt: number): number[] {
  if (attempt === 1) return candidates.slice(0, count);
  const pool = candidates.slice(0, Math.min(candidates.length, count * Math.min(attempt, 4)));
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

function decodeLru(data: Buffer): LruRecord {
  if (data.length === 0) return {};
  const env = decodeState(data, 'lastUsed');
  return env.ok && typeof env.value === 'object' && env.value !== null ? (env.value as LruRecord) : {};
}

function encodeLru(lru: LruRecord): Buffer {
  return encodeState('lastUsed', lru);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a lease of the IP found every block of a range covering [portFrom, portTo] taken, recently. */
function isExhausted(l: IpLeases, portFrom: number, portTo: number): boolean {
  return performance.now() < l.exhaustedUntil && portFrom >= l.exhaustedFrom && portTo <= l.exhaustedTo;
}
