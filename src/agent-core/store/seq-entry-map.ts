// A replicated map over directories of ephemeral-sequential znodes named "{key},{value},{seq}":
// each host writes its own entries, the highest sequence number wins a key, and an entry's owner
// deletes it once another host's newer entry wins. Shared by the MAC and ARP tables.
// DESIGN: Store (MAC and ARP tables: ephemeral-sequential, owned by the learner).
import type { Logger } from './log.js';
import { zkErrorCode, ZK_NO_NODE, type ZkClient, type ZkWatchEvent } from './zk-client.js';

interface Entry {
  readonly name: string;
  readonly key: string;
  readonly value: string;
  readonly seq: number;
}

interface Dir {
  readonly path: string;
  loaded: boolean;
  waiters: (() => void)[];
  /** key → its entries, highest sequence first. */
  byKey: Map<string, Entry[]>;
  /** Malformed names already logged (each is logged once, not on every listing). */
  reported: Set<string>;
  reading: boolean;
  readAgain: boolean;
}

/** Called when the winning value of a key changes (null: no entry left). */
export type SeqEntryListener = (dir: string, key: string, value: string | null) => void;

export function parseEntryName(name: string): Entry | undefined {
  const s = name.lastIndexOf(',');
  const v = s > 0 ? name.lastIndexOf(',', s - 1) : -1;
  if (s < 0 || v <= 0) return undefined;
  const seq = Number(name.slice(s + 1));
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { name, key: name.slice(0, v), value: name.slice(v + 1, s), seq };
}

export class SeqEntryMap {
  private readonly dirs = new Map<string, Dir>();
  /** Entries this session created: dir → names. They die with the session. */
  private readonly own = new Map<string, Set<string>>();
  private listeners: readonly SeqEntryListener[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly zk: ZkClient,
    private readonly log: Logger,
  ) {
    this.unsubscribe.push(zk.onWatch((e) => this.onWatch(e)));
    this.unsubscribe.push(
      zk.onState((state, { newSession }) => {
        if (state !== 'connected') return;
        if (newSession) this.own.clear();
        for (const d of this.dirs.values()) void this.read(d);
      }),
    );
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The winning value; null = loaded and absent; undefined = not loaded yet (the load starts). */
  lookup(dir: string, key: string): string | null | undefined {
    const d = this.dir(dir);
    if (!d.loaded) return undefined;
    return d.byKey.get(key)?.[0]?.value ?? null;
  }

  /** Whether the directory's entries have been read (without starting a load). */
  isLoaded(dir: string): boolean {
    return this.dirs.get(dir)?.loaded === true;
  }

  async ensure(dir: string): Promise<void> {
    const d = this.dir(dir);
    if (!d.loaded) await new Promise<void>((r) => d.waiters.push(r));
  }

  /** Every key's winning value. */
  entries(dir: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, list] of this.dir(dir).byKey) if (list.length > 0) out.set(k, list[0].value);
    return out;
  }

  onChange(listener: SeqEntryListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Writes key → value as this host's entry (a no-op if this host's entry already wins with that value). */
  async put(dir: string, key: string, value: string): Promise<void> {
    const d = this.dir(dir);
    await this.ensure(dir);
    const mine = this.own.get(dir);
    const top = d.byKey.get(key)?.[0];
    if (top !== undefined && top.value === value && mine?.has(top.name) === true) return;
    const prefix = `${dir}/${key},${value},`;
    let created: string;
    try {
      created = await this.zk.create(prefix, Buffer.alloc(0), 'ephemeralSequential');
    } catch (e) {
      if (zkErrorCode(e) !== ZK_NO_NODE) throw e;
      await this.zk.mkdirp(dir);
      created = await this.zk.create(prefix, Buffer.alloc(0), 'ephemeralSequential');
    }
    const name = created.slice(dir.length + 1);
    let set = this.own.get(dir);
    if (set === undefined) this.own.set(dir, (set = new Set()));
    set.add(name);
    // Our older entries for this key are superseded by the new one.
    await this.removeOwn(dir, (e) => e.key === key && e.name !== name);
  }

  /** Removes this host's entries for the key (only those with `value`, if given). */
  async remove(dir: string, key: string, value?: string): Promise<void> {
    await this.removeOwn(dir, (e) => e.key === key && (value === undefined || e.value === value));
  }

  // --- internals ---

  private async removeOwn(dir: string, which: (e: Entry) => boolean): Promise<void> {
    const set = this.own.get(dir);
    if (set === undefined) return;
    const victims = [...set].map(parseEntryName).filter((e): e is Entry => e !== undefined && which(e));
    await Promise.all(
      victims.map(async (e) => {
        set.delete(e.name);
        try {
          await this.zk.remove(`${dir}/${e.name}`);
        } catch (err) {
          if (zkErrorCode(err) !== ZK_NO_NODE) throw err;
        }
      }),
    );
  }

  private dir(path: string): Dir {
    let d = this.dirs.get(path);
    if (d === undefined) {
      d = { path, loaded: false, waiters: [], byKey: new Map(), reported: new Set(), reading: false, readAgain: false };
      this.dirs.set(path, d);
      void this.read(d);
    }
    return d;
  }

  private onWatch(e: ZkWatchEvent): void {
    const d = this.dirs.get(e.path);
    if (d !== undefined) void this.read(d);
  }

  /** Lists the directory with a new child watch and applies the difference. */
  private async read(d: Dir): Promise<void> {
    if (d.reading) {
      d.readAgain = true;
      return;
    }
    d.reading = true;
    try {
      do {
        d.readAgain = false;
        const res = await this.zk.getChildren(d.path, true);
        // A missing directory is an empty table; the exists watch reports its creation.
        if (res === undefined && (await this.zk.exists(d.path, true)) !== undefined) d.readAgain = true;
        this.apply(d, res?.children ?? []);
      } while (d.readAgain);
    } catch (err) {
      this.log.warn({ path: d.path, err }, 'listing a table failed; will retry on the next session event');
      return;
    } finally {
      d.reading = false;
    }
    if (!d.loaded) {
      d.loaded = true;
      for (const w of d.waiters.splice(0)) w();
    }
  }

  private apply(d: Dir, names: readonly string[]): void {
    const byKey = new Map<string, Entry[]>();
    for (const n of names) {
      const e = parseEntryName(n);
      if (e === undefined) {
        if (!d.reported.has(n)) this.log.error({ path: `${d.path}/${n}` }, `skipping table entry ${n}: not "{key},{value},{seq}"`);
        d.reported.add(n);
        continue;
      }
      let list = byKey.get(e.key);
      if (list === undefined) byKey.set(e.key, (list = []));
      list.push(e);
    }
    for (const list of byKey.values()) list.sort((a, b) => b.seq - a.seq);
    const old = d.byKey;
    d.byKey = byKey;
    const changed: [string, string | null][] = [];
    for (const [k, list] of byKey) if (old.get(k)?.[0]?.value !== list[0].value) changed.push([k, list[0].value]);
    for (const k of old.keys()) if (!byKey.has(k)) changed.push([k, null]);
    // Our entries that another host's newer entry beat are ours to clean up.
    const mine = this.own.get(d.path);
    if (mine !== undefined && mine.size > 0) {
      const beaten = new Set<string>();
      for (const list of byKey.values()) for (const e of list.slice(1)) if (mine.has(e.name)) beaten.add(e.name);
      if (beaten.size > 0) {
        void this.removeOwn(d.path, (e) => beaten.has(e.name)).catch((err: unknown) => this.log.warn({ err }, 'cleanup of a beaten entry failed'));
      }
    }
    if (!d.loaded) return;
    for (const [k, v] of changed) for (const l of this.listeners) l(d.path, k, v);
  }
}
