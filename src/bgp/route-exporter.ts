// Route export: the prefixes the provider router owns, as a desired set; only the difference is
// added to or deleted from gobgpd's global table, and a new gobgpd gets the whole set again.
// gobgpd announces them with each session's local address, the uplink's, as next hop.
// DESIGN: BGP (export: advertised with the uplink as next hop, kept in sync).
import type { Logger } from 'pino';
import { storeLogger } from '../agent-core/store/index.js';
import { advertisedPath, parseAdvertisedPrefix, type AdvertisedPrefix } from './api-paths.js';
import { BgpConfigError } from './errors.js';
import type { GobgpClient } from './gobgp-client.js';

export interface RouteExporterOptions {
  readonly logger?: Logger;
  /** Calls in flight at once when many prefixes change; default 32. */
  readonly concurrency?: number;
}

export class RouteExporter {
  private readonly log: Logger;
  private desired = new Map<string, AdvertisedPrefix>();
  /** Prefix → uuid of the path in the attached gobgpd. */
  private readonly installed = new Map<string, Buffer>();
  private client: GobgpClient | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly concurrency: number;

  constructor(options: RouteExporterOptions = {}) {
    this.log = storeLogger(options.logger, 'bgp-export');
    this.concurrency = options.concurrency ?? 32;
  }

  /** The prefixes to announce (canonical CIDR text). */
  advertised(): string[] {
    return [...this.desired.keys()];
  }

  /** Prefixes the attached gobgpd holds. */
  installedPrefixes(): string[] {
    return [...this.installed.keys()];
  }

  /** Makes the announced set exactly `prefixes`; rejects with BgpConfigError (changing nothing) if one is not a prefix. */
  async advertise(prefixes: readonly string[]): Promise<void> {
    const next = new Map<string, AdvertisedPrefix>();
    prefixes.forEach((text, i) => {
      const p = parseAdvertisedPrefix(text);
      if (typeof p === 'string') throw new BgpConfigError(`advertise[${i}]`, p);
      next.set(p.prefix, p);
    });
    this.desired = next;
    await this.enqueue();
  }

  /** A (new) gobgpd: it holds nothing of ours yet. */
  attach(client: GobgpClient): Promise<void> {
    this.client = client;
    this.installed.clear();
    return this.enqueue();
  }

  detach(): void {
    this.client = undefined;
    this.installed.clear();
  }

  // --- internals ---

  /** One sync at a time, in order (one writer). */
  private enqueue(): Promise<void> {
    const run = this.chain.then(() => this.sync());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async sync(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    const removals = [...this.installed].filter(([prefix]) => !this.desired.has(prefix));
    const additions = [...this.desired.values()].filter((p) => !this.installed.has(p.prefix));
    await this.inParallel(removals, async ([prefix, uuid]) => {
      await client.deletePathByUuid(uuid);
      if (this.client === client) this.installed.delete(prefix);
      this.log.info({ prefix }, `withdrew ${prefix}`);
    });
    await this.inParallel(additions, async (p) => {
      const uuid = await client.addPath(advertisedPath(p));
      if (this.client === client) this.installed.set(p.prefix, uuid);
      this.log.info({ prefix: p.prefix }, `advertising ${p.prefix}`);
    });
  }

  private async inParallel<T>(items: readonly T[], op: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const errors: unknown[] = [];
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++] as T;
        try {
          await op(item);
        } catch (err) {
          errors.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    if (errors.length > 0) throw errors[0];
  }
}
