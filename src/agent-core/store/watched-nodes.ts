// Single znodes read on demand and kept current: a data watch while the node exists, an exists
// watch while it does not, and a re-read after every notification and every reconnect.
// DESIGN: Store (agents load on demand, watch, keep serving from cache when the session drops).
import type { Decoded } from './codec.js';
import type { Logger } from './log.js';
import type { ZkClient, ZkWatchEvent } from './zk-client.js';

interface Node<T> {
  readonly path: string;
  loaded: boolean;
  value: T | null;
  raw: Buffer | undefined;
  waiters: (() => void)[];
  reading: boolean;
  readAgain: boolean;
}

export class WatchedNodes<T> {
  private readonly nodes = new Map<string, Node<T>>();
  private listeners: readonly ((path: string, value: T | null) => void)[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly zk: ZkClient,
    private readonly decode: (data: Buffer, path: string) => Decoded<T>,
    private readonly log: Logger,
  ) {
    this.unsubscribe.push(
      zk.onWatch((e: ZkWatchEvent) => {
        const n = this.nodes.get(e.path);
        if (n !== undefined) void this.read(n);
      }),
    );
    this.unsubscribe.push(
      zk.onState((s) => {
        if (s === 'connected') for (const n of this.nodes.values()) void this.read(n);
      }),
    );
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The value; null = absent or unreadable; undefined = not loaded yet (the load starts). */
  get(path: string): T | null | undefined {
    const n = this.node(path);
    return n.loaded ? n.value : undefined;
  }

  async ensure(path: string): Promise<T | null> {
    const n = this.node(path);
    if (!n.loaded) await new Promise<void>((r) => n.waiters.push(r));
    return n.value;
  }

  onChange(listener: (path: string, value: T | null) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  private node(path: string): Node<T> {
    let n = this.nodes.get(path);
    if (n === undefined) {
      n = { path, loaded: false, value: null, raw: undefined, waiters: [], reading: false, readAgain: false };
      this.nodes.set(path, n);
      void this.read(n);
    }
    return n;
  }

  private async read(n: Node<T>): Promise<void> {
    if (n.reading) {
      n.readAgain = true;
      return;
    }
    n.reading = true;
    try {
      do {
        n.readAgain = false;
        const res = await this.zk.getData(n.path, true);
        if (res === undefined) {
          // Absent: an exists watch reports the creation; if it was created meanwhile, read again.
          if ((await this.zk.exists(n.path, true)) !== undefined) n.readAgain = true;
          this.set(n, null, undefined);
        } else if (n.raw === undefined || !res.data.equals(n.raw)) {
          const dec = this.decode(res.data, n.path);
          if (!dec.ok) this.log.error({ path: n.path, error: dec.error }, `skipping ${n.path}: ${dec.error}`);
          this.set(n, dec.ok ? dec.value : null, res.data);
        }
      } while (n.readAgain);
    } catch (err) {
      this.log.warn({ path: n.path, err }, 'read failed; will retry on the next session event');
      return;
    } finally {
      n.reading = false;
    }
    if (!n.loaded) {
      n.loaded = true;
      for (const w of n.waiters.splice(0)) w();
    }
  }

  private set(n: Node<T>, value: T | null, raw: Buffer | undefined): void {
    const changed = n.value !== value;
    n.value = value;
    n.raw = raw;
    if (changed && n.loaded) for (const l of this.listeners) l(n.path, value);
  }
}
