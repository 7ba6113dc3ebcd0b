// Keeps this host's conntrack and NAT state on local disk so that a restarted agent keeps the
// connections whose state it held (DESIGN: Flow state, Restart). Written atomically (temp + rename).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LocalTables, LocalTablesSnapshot } from './local-tables.js';

const FORMAT = 'tollgate-flow-state/1';
/**
 * Share of the main loop that saving may take: the snapshot and its JSON grow with the tables
 * (a minute of new flows), and are built on the loop that simulates them. Past it, saves space out.
 */
const MAX_SAVE_SHARE = 0.01;

interface StoredState extends LocalTablesSnapshot {
  readonly format: string;
  /** Wall-clock time of the save: lifetimes shrink by the time the agent was down. */
  readonly savedAt: number;
}

export class StateFile {
  /** How long the last save held the main loop (snapshot and JSON), ms, and how many entries it wrote. */
  private lastBusyMs = 0;
  private lastEntries = 0;

  constructor(readonly path: string) {}

  /**
   * How long to wait between saves: `minMs`, or longer when a save holds the loop for long. The cost
   * is scaled to the `entries` the tables hold now: under a flood of new connections they grow
   * between saves, and the last save's time alone let saving take several times its share.
   */
  intervalMs(minMs: number, entries: number): number {
    const perEntryMs = this.lastEntries > 0 ? this.lastBusyMs / this.lastEntries : 0;
    return Math.max(minMs, this.lastBusyMs / MAX_SAVE_SHARE, (perEntryMs * entries) / MAX_SAVE_SHARE);
  }

  async save(tables: LocalTables, wallNow: number, monoNow: number): Promise<void> {
    const started = performance.now();
    const data: StoredState = { format: FORMAT, savedAt: wallNow, ...tables.snapshot(monoNow) };
    const bytes = Buffer.from(JSON.stringify(data));
    this.lastBusyMs = performance.now() - started;
    this.lastEntries = data.conntrack.length + data.nat.length;
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    await writeFile(tmp, bytes);
    await rename(tmp, this.path);
  }

  /** Restores what is still alive; a missing file is no state, an unreadable one an error. */
  async load(tables: LocalTables, wallNow: number, monoNow: number): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    const data = JSON.parse(text) as Partial<StoredState>;
    if (data.format !== FORMAT || !Array.isArray(data.conntrack) || !Array.isArray(data.nat) || typeof data.savedAt !== 'number') {
      throw new Error(`${this.path}: not a ${FORMAT} file`);
    }
    const down = Math.max(0, wallNow - data.savedAt);
    return tables.restore({
      conntrack: data.conntrack.map(([k, ms]) => [k, ms - down] as const),
      nat: data.nat.map((e) => ({ ...e, remainingMs: e.remainingMs - down })),
    }, monoNow);
  }
}
