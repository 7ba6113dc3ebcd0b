// The SNAT ports of one NAT IP that this host holds (DESIGN: Store, /nat/{deviceId}/{ip}/{block}):
// its leased 64-port blocks with a bitmap of the ports in use each, indexed so that picking a free
// port costs the same whether one block is leased or a thousand (no sort, no scan of used ports).

export const NAT_BLOCK_SIZE = 64;

export function blockOfPort(port: number): number {
  return Math.floor(port / NAT_BLOCK_SIZE);
}

/** One leased block. */
export interface NatBlockPorts {
  readonly block: number;
  /** Ports in use, as bits: port block*64 + i is bit i (i < 32 in `low`, else in `high`). */
  low: number;
  high: number;
  used: number;
  /** Position in the index's list of blocks with a free port, or -1 when full. */
  freePos: number;
}

const FULL = 0xffffffff | 0;

export class NatPortIndex {
  private readonly blocks = new Map<number, NatBlockPorts>();
  /** Blocks with at least one free port, in no particular order (swap-removed). */
  private readonly withFree: NatBlockPorts[] = [];
  private free = 0;

  /** Free ports over all blocks (whatever the range a caller asks for). */
  get freePorts(): number {
    return this.free;
  }

  get size(): number {
    return this.blocks.size;
  }

  has(block: number): boolean {
    return this.blocks.has(block);
  }

  get(block: number): NatBlockPorts | undefined {
    return this.blocks.get(block);
  }

  /** Block numbers, ascending. */
  blockNumbers(): number[] {
    return [...this.blocks.keys()].sort((a, b) => a - b);
  }

  add(block: number): NatBlockPorts {
    const cur = this.blocks.get(block);
    if (cur !== undefined) return cur;
    const b: NatBlockPorts = { block, low: 0, high: 0, used: 0, freePos: -1 };
    this.blocks.set(block, b);
    this.free += NAT_BLOCK_SIZE;
    this.listFree(b);
    return b;
  }

  delete(block: number): boolean {
    const b = this.blocks.get(block);
    if (b === undefined) return false;
    this.blocks.delete(block);
    this.free -= NAT_BLOCK_SIZE - b.used;
    this.unlistFree(b);
    return true;
  }

  /** Marks the port in use; false when its block is not held or the port was already in use. */
  markUsed(port: number): boolean {
    const b = this.blocks.get(blockOfPort(port));
    if (b === undefined) return false;
    const i = port - b.block * NAT_BLOCK_SIZE;
    if (isUsed(b, i)) return false;
    if (i < 32) b.low |= 1 << i;
    else b.high |= 1 << (i - 32);
    b.used++;
    this.free--;
    if (b.used === NAT_BLOCK_SIZE) this.unlistFree(b);
    return true;
  }

  /** Marks the port free; false when its block is not held or the port was not in use. */
  markFree(port: number): boolean {
    const b = this.blocks.get(blockOfPort(port));
    if (b === undefined) return false;
    const i = port - b.block * NAT_BLOCK_SIZE;
    if (!isUsed(b, i)) return false;
    if (i < 32) b.low &= ~(1 << i);
    else b.high &= ~(1 << (i - 32));
    if (b.used === NAT_BLOCK_SIZE) this.listFree(b);
    b.used--;
    this.free++;
    return true;
  }

  /** The ports in use in a block, ascending. */
  usedPorts(block: number): number[] {
    const b = this.blocks.get(block);
    const out: number[] = [];
    if (b === undefined) return out;
    for (let i = 0; i < NAT_BLOCK_SIZE; i++) if (isUsed(b, i)) out.push(b.block * NAT_BLOCK_SIZE + i);
    return out;
  }

  /**
   * A free port within [portFrom, portTo], or undefined. The same state and hash give the same
   * port; different hashes spread over the blocks and over the ports of a block.
   */
  pick(portFrom: number, portTo: number, flowHash: number): number | undefined {
    const n = this.withFree.length;
    if (n === 0) return undefined;
    const h = flowHash >>> 0;
    const first = h % n;
    const offsetHash = Math.floor(h / n);
    for (let k = 0; k < n; k++) {
      const b = this.withFree[(first + k) % n]!;
      const base = b.block * NAT_BLOCK_SIZE;
      const lo = Math.max(base, portFrom) - base;
      const hi = Math.min(base + NAT_BLOCK_SIZE - 1, portTo) - base;
      if (lo > hi) continue;
      const i = freeBit(b, lo, hi, lo + (offsetHash % (hi - lo + 1)));
      if (i >= 0) return base + i;
    }
    return undefined;
  }

  private listFree(b: NatBlockPorts): void {
    if (b.freePos >= 0) return;
    b.freePos = this.withFree.length;
    this.withFree.push(b);
  }

  private unlistFree(b: NatBlockPorts): void {
    const pos = b.freePos;
    if (pos < 0) return;
    const last = this.withFree.pop()!;
    if (last !== b) {
      this.withFree[pos] = last;
      last.freePos = pos;
    }
    b.freePos = -1;
  }
}

function isUsed(b: NatBlockPorts, i: number): boolean {
  return i < 32 ? (b.low & (1 << i)) !== 0 : (b.high & (1 << (i - 32))) !== 0;
}

/** The first clear bit in [lo, hi] from `start` on, wrapping to lo; -1 when all are set. */
function freeBit(b: NatBlockPorts, lo: number, hi: number, start: number): number {
  if (lo === 0 && hi === NAT_BLOCK_SIZE - 1 && (b.low | 0) === FULL && (b.high | 0) === FULL) return -1;
  for (let i = start; i <= hi; i++) if (!isUsed(b, i)) return i;
  for (let i = lo; i < start; i++) if (!isUsed(b, i)) return i;
  return -1;
}
