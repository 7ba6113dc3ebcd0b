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
import { zkErrorCode, ZK_BAD_VERSION, ZK_NODE_EXISTS, ZK_NO_NODE, type ZkClient } from './zk-client.js';

export const NAT_BLOCK_SIZE = 64;
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
}

interface Lease {
  readonly block: number;
  readonly used: Set<number>;
  releaseTimer: NodeJS.Timeout | undefined;
}

/** block → last use (ms since epoch), kept in the IP's persistent znode. */
type LruRecord = Record<string, number>;

export function blockOfPort(port: number): number {
  return Math.floor(port / NAT_BLOCK_SIZE);
}

export class NatLeases implements NatPortAllocator {
  private readonly paths: StorePaths;
  private readonly log: Logger;
  private readonly leases = new Map<string, Map<number, Lease>>();
  private readonly releaseAfter: number;
  private readonly maxAttempts: number;
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
    this.offState = zk.onState((state, { newSession }) => {
      if (state === 'connected' && newSession) {
        void this.recreate().catch((err: unknown) => this.log.error({ err }, 're-creating NAT leases after session expiry failed'));
      }
    });
  }

  close(): void {
    this.offState();
    for (const m of this.leases.values()) for (const l of m.values()) clearTimeout(l.releaseTimer);
  }

  // --- NatPortAllocator (pure: no mutation) ---

  pickPort(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number, flowHash: number): number | undefined {
    const m = this.leases.get(leaseKey(deviceId, formatIp(ip)));
    if (m === undefined || m.size === 0) return undefined;
    const spans: [number, number, Lease][] = [];
    let total = 0;
    for (const lease of [...m.values()].sort((a, b) => a.block - b.block)) {
      const lo = Math.max(lease.block * NAT_BLOCK_SIZE, portFrom);
      const hi = Math.min(lease.block * NAT_BLOCK_SIZE + NAT_BLOCK_SIZE - 1, portTo);
      if (lo > hi) continue;
      spans.push([lo, hi, lease]);
      total += hi - lo + 1;
    }
    if (total === 0) return undefined;
    // Start where the flow hash points so that concurrent flows spread over the ports.
    let skip = (flowHash >>> 0) % total;
    let start = 0;
    while (skip > spans[start][1] - spans[start][0]) {
      skip -= spans[start][1] - spans[start][0] + 1;
      start++;
    }
    for (let n = 0, i = start, p = spans[start][0] + skip; n < total; n++) {
      if (!spans[i][2].used.has(p)) return p;
      if (++p > spans[i][1]) {
        i = (i + 1) % spans.length;
        p = spans[i][0];
      }
    }
    return undefined;
  }

  // --- the shell's side ---

  /** Blocks this host holds for the IP, ascending. */
  leasedBlocks(deviceId: Id, ip: IpAddr): number[] {
    return [...(this.leases.get(leaseKey(deviceId, formatIp(ip)))?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * Leases one more block of the IP intersecting [portFrom, portTo] (for NotYet natBlock): never
   * used blocks first, then the least recently used. Returns the block number.
   */
  async leaseNatBlock(deviceId: Id, ip: IpAddr, portFrom = 1, portTo = 65535): Promise<number> {
    const ipText = formatIp(ip);
    const dir = this.paths.natIpDir(deviceId, ipText);
    await this.zk.mkdirp(dir);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const [kids, rec] = await Promise.all([this.zk.getChildren(dir), this.zk.getData(dir)]);
      if (kids === undefined || rec === undefined) continue;
      const held = new Set(kids.children.map(Number));
      const lru = decodeLru(rec.data);
      const candidates: number[] = [];
      for (let b = blockOfPort(Math.max(0, portFrom)); b <= Math.min(NAT_BLOCKS_PER_IP - 1, blockOfPort(portTo)); b++) {
        if (!held.has(b)) candidates.push(b);
      }
      if (candidates.length === 0) throw new NatBlocksExhaustedError(deviceId, ipText);
      candidates.sort((a, b) => (lru[a] ?? -1) - (lru[b] ?? -1) || a - b);
      // Racing hosts would all want the first candidate: spread them over the few best ones.
      const pick = candidates[Math.floor(Math.random() * Math.min(attempt, 4, candidates.length))];
      try {
        await this.zk.multi([
          { op: 'create', path: this.paths.natBlock(deviceId, ipText, pick), mode: 'ephemeral' },
          { op: 'setData', path: dir, data: encodeLru({ ...lru, [pick]: Date.now() }), version: rec.stat.version },
        ]);
      } catch (e) {
        const code = zkErrorCode(e);
        if (code === ZK_NODE_EXISTS || code === ZK_BAD_VERSION) {
          await sleep(Math.random() * Math.min(2 ** attempt, 20));
          continue;
        }
        throw e;
      }
      this.leaseMap(deviceId, ipText).set(pick, { block: pick, used: new Set(), releaseTimer: undefined });
      return pick;
    }
    throw new ConcurrentModificationError(this.maxAttempts, `leasing a NAT block of ${ipText} on ${deviceId}`);
  }

  /**
   * Takes back a specific block after a restart (bindings restored from disk use its ports); false
   * when another host holds it now (those bindings cannot be kept).
   */
  async reclaimNatBlock(deviceId: Id, ip: IpAddr, block: number): Promise<boolean> {
    const ipText = formatIp(ip);
    if (this.leaseMap(deviceId, ipText).has(block)) return true;
    await this.zk.mkdirp(this.paths.natIpDir(deviceId, ipText));
    try {
      await this.zk.create(this.paths.natBlock(deviceId, ipText, block), Buffer.alloc(0), 'ephemeral');
    } catch (e) {
      if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
      // Ours from the previous session (not expired yet) or another host's: only the former is ours to keep.
      const cur = await this.zk.getData(this.paths.natBlock(deviceId, ipText, block));
      if (cur === undefined || !cur.stat.ephemeralOwner.equals(this.zk.sessionId)) return false;
    }
    this.leaseMap(deviceId, ipText).set(block, { block, used: new Set(), releaseTimer: undefined });
    return true;
  }

  /** Marks a port of one of this host's blocks in use (the shell applies the simulation's nat state change). */
  markPortUsed(deviceId: Id, ip: IpAddr, port: number): boolean {
    const lease = this.leases.get(leaseKey(deviceId, formatIp(ip)))?.get(blockOfPort(port));
    if (lease === undefined) return false;
    lease.used.add(port);
    clearTimeout(lease.releaseTimer);
    lease.releaseTimer = undefined;
    return true;
  }

  /** Marks a port free; a block left with no port in use is released after releaseIdleAfterMs. */
  markPortFree(deviceId: Id, ip: IpAddr, port: number): void {
    const ipText = formatIp(ip);
    const lease = this.leases.get(leaseKey(deviceId, ipText))?.get(blockOfPort(port));
    if (lease === undefined || !lease.used.delete(port) || lease.used.size > 0) return;
    clearTimeout(lease.releaseTimer);
    const release = (): void => {
      void this.releaseNatBlock(deviceId, ip, lease.block).catch((err: unknown) => this.log.warn({ err, deviceId, ip: ipText, block: lease.block }, 'releasing a NAT block failed'));
    };
    if (this.releaseAfter <= 0) release();
    else {
      lease.releaseTimer = setTimeout(release, this.releaseAfter);
      lease.releaseTimer.unref();
    }
  }

  /** Gives a block back (its ports must be free) and records its last use for LRU. */
  async releaseNatBlock(deviceId: Id, ip: IpAddr, block: number): Promise<void> {
    const ipText = formatIp(ip);
    const m = this.leases.get(leaseKey(deviceId, ipText));
    const lease = m?.get(block);
    if (lease === undefined || lease.used.size > 0) return;
    clearTimeout(lease.releaseTimer);
    // Forget it first so that pickPort stops choosing it while the release is in flight.
    m?.delete(block);
    const dir = this.paths.natIpDir(deviceId, ipText);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const rec = await this.zk.getData(dir);
      if (rec === undefined) return;
      try {
        await this.zk.multi([
          { op: 'remove', path: this.paths.natBlock(deviceId, ipText, block) },
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

  private leaseMap(deviceId: Id, ipText: string): Map<number, Lease> {
    const k = leaseKey(deviceId, ipText);
    let m = this.leases.get(k);
    if (m === undefined) this.leases.set(k, (m = new Map()));
    return m;
  }

  /** After an expiry: take our blocks back, unless another host leased one in the meantime. */
  private async recreate(): Promise<void> {
    for (const [k, m] of this.leases) {
      const [deviceId, ipText] = splitKey(k);
      for (const lease of [...m.values()]) {
        try {
          await this.zk.create(this.paths.natBlock(deviceId, ipText, lease.block), Buffer.alloc(0), 'ephemeral');
        } catch (e) {
          if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
          m.delete(lease.block);
          clearTimeout(lease.releaseTimer);
          const lost: NatLeaseLost = { deviceId, ip: ipText, block: lease.block, usedPorts: [...lease.used].sort((a, b) => a - b) };
          this.log.error(lost, 'NAT block lease lost during a session expiry: another host leased it');
          for (const l of this.lostListeners) l(lost);
        }
      }
    }
  }
}

function leaseKey(deviceId: Id, ipText: string): string {
  return `${deviceId}\u0000${ipText}`;
}

function splitKey(k: string): [Id, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
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
