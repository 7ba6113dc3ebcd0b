// Promise wrapper around node-zookeeper-client with a session state machine: connecting →
// connected ⇄ suspended (connection lost, session alive) → expired → a new session, and closed.
// DESIGN: Store (agents keep serving from cache when the session drops; re-create ephemerals on expiry).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import type { Client, Stat } from 'node-zookeeper-client';
import { ClientClosedError, ConnectionLossError, SessionExpiredError, ZooKeeperError } from './errors.js';
import { storeLogger, type Logger } from './log.js';

const { createClient, CreateMode, Exception, Event } = zookeeper;

export type ZkSessionState = 'connecting' | 'connected' | 'suspended' | 'closed';
export type ZkCreateMode = 'persistent' | 'ephemeral' | 'ephemeralSequential' | 'persistentSequential';
export type ZkWatchType = 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';

export interface ZkWatchEvent {
  readonly type: ZkWatchType;
  readonly path: string;
}

export type { Stat as ZkStat } from 'node-zookeeper-client';

export interface ZkClientOptions {
  /** Requested session timeout; the server clamps it to [2, 20] × tickTime by default. */
  readonly sessionTimeoutMs?: number;
  /** Upper bound of the random pause before retrying the server list. */
  readonly spinDelayMs?: number;
  /** How long connect() waits for the first session. */
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
  /** Resume an existing session (tests use this to close another client's session). */
  readonly sessionId?: Buffer;
  readonly sessionPassword?: Buffer;
}

export type ZkOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: Buffer; readonly mode?: ZkCreateMode }
  | { readonly op: 'setData'; readonly path: string; readonly data: Buffer; readonly version?: number }
  | { readonly op: 'remove'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

/** A failed multi: the ZooKeeper code of the first failing op and its index in the op list. */
export class ZkMultiError extends ZooKeeperError {
  constructor(
    zkCode: number,
    zkName: string,
    readonly opIndex: number,
    readonly op: ZkOp | undefined,
  ) {
    super(zkCode, zkName, op?.path, `transaction op ${opIndex} (${op?.op ?? '?'})`);
  }
}

const MODES: Record<ZkCreateMode, number> = {
  persistent: CreateMode.PERSISTENT,
  ephemeral: CreateMode.EPHEMERAL,
  ephemeralSequential: CreateMode.EPHEMERAL_SEQUENTIAL,
  persistentSequential: CreateMode.PERSISTENT_SEQUENTIAL,
};

export const ZK_NO_NODE = Exception.NO_NODE;
export const ZK_NODE_EXISTS = Exception.NODE_EXISTS;
export const ZK_BAD_VERSION = Exception.BAD_VERSION;
export const ZK_NOT_EMPTY = Exception.NOT_EMPTY;
const ZK_CONNECTION_LOSS = Exception.CONNECTION_LOSS;
const ZK_SESSION_EXPIRED = Exception.SESSION_EXPIRED;

interface ZkException {
  getCode(): number;
  getName(): string;
}

function zkCodeOf(err: unknown): number | undefined {
  return typeof (err as Partial<ZkException> | null)?.getCode === 'function' ? (err as ZkException).getCode() : undefined;
}

/** The ZooKeeper error code carried by an error from this module, if any. */
export function zkErrorCode(err: unknown): number | undefined {
  return err instanceof ZooKeeperError ? err.zkCode : zkCodeOf(err);
}

/** The parts of node-zookeeper-client's connection manager the workarounds below touch. */
function internals(client: Client): { pendingBuffer: Buffer | null; socket: Socket | undefined } {
  return (client as unknown as { connectionManager: { pendingBuffer: Buffer | null; socket: Socket | undefined } }).connectionManager;
}

export class ZkClient {
  private client: Client;
  private stateNow: ZkSessionState = 'connecting';
  private generation = 0;
  private readonly events = new EventEmitter();
  /** One stable watcher function per (kind, path): the library dedupes registrations by identity. */
  private readonly watchFns = new Map<string, (e: { getType(): number; getPath(): string }) => void>();
  /** Rejecters of calls in flight, for the calls the library would leave hanging when the session expires. */
  private readonly inFlight = new Set<(err: Error) => void>();
  private readonly log: Logger;
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    private readonly connectionString: string,
    private readonly options: ZkClientOptions,
  ) {
    this.log = storeLogger(options.logger, 'zk-client');
    this.events.setMaxListeners(0);
    this.client = this.newClient(options.sessionId, options.sessionPassword);
  }

  /** Connects and waits for the first session. */
  static async connect(connectionString: string, options: ZkClientOptions = {}): Promise<ZkClient> {
    const zk = new ZkClient(connectionString, options);
    await zk.waitConnected(options.connectTimeoutMs ?? 15_000);
    return zk;
  }

  get state(): ZkSessionState {
    return this.stateNow;
  }

  /** Increments with every new session (after an expiry): ephemeral state of older generations is gone. */
  get sessionGeneration(): number {
    return this.generation;
  }

  get sessionId(): Buffer {
    return this.client.getSessionId();
  }

  get sessionPassword(): Buffer {
    return this.client.getSessionPassword();
  }

  /** The session id as ZooKeeper prints it (hex). */
  get sessionIdHex(): string {
    return this.sessionId.toString('hex');
  }

  /**
   * State changes. `connected` carries `newSession`: true for the first session and for each one
   * after an expiry (watches and ephemerals are gone: re-read and re-create), false on a reconnect
   * within the same session (watches were re-armed by the library: re-reading is still prudent).
   */
  onState(listener: (state: ZkSessionState, info: { readonly newSession: boolean }) => void): () => void {
    this.events.on('state', listener);
    return () => this.events.off('state', listener);
  }

  /** Watch notifications of every path this client watches. */
  onWatch(listener: (event: ZkWatchEvent) => void): () => void {
    this.events.on('watch', listener);
    return () => this.events.off('watch', listener);
  }

  async waitConnected(timeoutMs = 15_000): Promise<void> {
    if (this.stateNow === 'connected') return;
    if (this.stateNow === 'closed') throw new ClientClosedError('waitConnected');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ZooKeeper session with ${this.connectionString} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onState((s) => {
        if (s === 'connected' || s === 'closed') {
          clearTimeout(timer);
          off();
          if (s === 'connected') resolve();
          else reject(new ClientClosedError('waitConnected'));
        }
      });
    });
  }

  // --- reads (retried across a connection loss: they have no effect) ---

  async getData(path: string, watch = false): Promise<{ readonly data: Buffer; readonly stat: Stat } | undefined> {
    return this.read('getData', path, (cb) => {
      const done = (e: unknown, data: Buffer, stat: Stat): void => cb(e, { data: data ?? Buffer.alloc(0), stat });
      if (watch) this.client.getData(path, this.watchFn('data', path), done);
      else this.client.getData(path, done);
    });
  }

  async getChildren(path: string, watch = false): Promise<{ readonly children: string[]; readonly stat: Stat } | undefined> {
    return this.read('getChildren', path, (cb) => {
      const done = (e: unknown, children: string[], stat: Stat): void => cb(e, { children, stat });
      if (watch) this.client.getChildren(path, this.watchFn('child', path), done);
      else this.client.getChildren(path, done);
    });
  }

  /** The node's stat, or undefined; with `watch`, a watch that fires on its creation, change or deletion. */
  async exists(path: string, watch = false): Promise<Stat | undefined> {
    const stat = await this.read<Stat | null>('exists', path, (cb) => {
      const done = (e: unknown, s: Stat): void => cb(e, s ?? null);
      if (watch) this.client.exists(path, this.watchFn('data', path), done);
      else this.client.exists(path, done);
    });
    return stat ?? undefined;
  }

  // --- writes (a connection loss makes the outcome unknown: ConnectionLossError) ---

  async create(path: string, data: Buffer = Buffer.alloc(0), mode: ZkCreateMode = 'persistent'): Promise<string> {
    return this.call<string>('create', path, (cb) => this.client.create(path, data, MODES[mode], (e, p) => cb(e, p)));
  }

  async setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return this.call<Stat>('setData', path, (cb) => this.client.setData(path, data, version, (e, s) => cb(e, s)));
  }

  async remove(path: string, version = -1): Promise<void> {
    await this.call<null>('remove', path, (cb) => this.client.remove(path, version, (e) => cb(e, null)));
  }

  /** Creates the path and any missing parents as empty persistent nodes. */
  async mkdirp(path: string): Promise<void> {
    await this.call<string>('mkdirp', path, (cb) => this.client.mkdirp(path, (e, p) => cb(e, p)));
  }

  /** Creates a persistent node unless it exists (parents must exist). */
  async ensureNode(path: string, data: Buffer = Buffer.alloc(0)): Promise<void> {
    try {
      await this.create(path, data);
    } catch (e) {
      if (zkErrorCode(e) !== ZK_NODE_EXISTS) throw e;
    }
  }

  /**
   * Runs ops atomically (ZooKeeper multi). Results are the created paths (null for other ops). A
   * failure throws ZkMultiError naming the first failing op; nothing was applied.
   */
  async multi(ops: readonly ZkOp[]): Promise<(string | null)[]> {
    if (ops.length === 0) return [];
    type Result = { type: number; path?: string; err?: number };
    const results = await this.call<Result[] | undefined>('multi', undefined, (cb) => {
      const tx = this.client.transaction();
      // node-zookeeper-client 1.1.3 turns version 0 into -1 ("any version") in check, setData and
      // remove of a transaction (`version || -1`), which would drop the check on every node written
      // once: put the version back on the queued op.
      const queued = (tx as unknown as { ops: { version?: number }[] }).ops;
      for (const o of ops) {
        if (o.op === 'create') tx.create(o.path, o.data ?? Buffer.alloc(0), MODES[o.mode ?? 'persistent']);
        else if (o.op === 'setData') tx.setData(o.path, o.data, o.version ?? -1);
        else if (o.op === 'remove') tx.remove(o.path, o.version ?? -1);
        else tx.check(o.path, o.version);
        if (o.op !== 'create') queued[queued.length - 1].version = o.version ?? -1;
      }
      tx.commit((e, r) => {
        const rs = r as Result[] | undefined;
        if (e !== null && e !== undefined && Array.isArray(rs)) {
          // ZooKeeper answers OK for the ops before the failing one and RUNTIME_INCONSISTENCY after it.
          const idx = rs.findIndex((x) => x.err !== undefined && x.err !== 0);
          const code = zkCodeOf(e) ?? -1;
          cb(new ZkMultiError(code, (e as Partial<ZkException>).getName?.() ?? String(e), idx, ops[idx]), undefined);
          return;
        }
        cb(e, rs);
      });
    });
    return (results ?? []).map((r) => r.path ?? null);
  }

  /** Ends the session: its ephemeral nodes vanish at once. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed') return;
    const wasConnected = this.stateNow === 'connected';
    this.setState('closed', false);
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    const client = this.client;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wasConnected ? 2000 : 0);
      client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
    this.failInFlight(new ClientClosedError('close'));
  }

  // --- internals ---

  private newClient(sessionId?: Buffer, sessionPassword?: Buffer): Client {
    const options: Record<string, unknown> = {
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      spinDelay: this.options.spinDelayMs ?? 200,
      retries: 0,
    };
    if (sessionId !== undefined) options.sessionId = sessionId;
    if (sessionPassword !== undefined) options.sessionPassword = sessionPassword;
    const client = createClient(this.connectionString, options);
    client.on('state', (s) => {
      if (client !== this.client || this.stateNow === 'closed') return;
      if (s === zookeeper.State.SYNC_CONNECTED) {
        const newSession = this.stateNow === 'connecting';
        this.setState('connected', newSession);
      } else if (s === zookeeper.State.DISCONNECTED) {
        // node-zookeeper-client 1.1.3 keeps a partly received message across sockets and would
        // prepend it to the next connection's handshake answer: drop it with the old socket.
        internals(client).pendingBuffer = null;
        if (this.stateNow === 'connected') this.setState('suspended', false);
        this.armWatchdog();
      } else if (s === zookeeper.State.EXPIRED) {
        this.onExpired();
      }
    });
    client.connect();
    return client;
  }

  /**
   * While not connected, a socket that stays open without completing the handshake for a whole
   * period is closed so the library tries again: it has no timeout once TCP is up (seen when a
   * restarting server accepts connections before it serves them).
   */
  private armWatchdog(): void {
    if (this.watchdog !== undefined) return;
    const period = Math.min(Math.max((this.options.sessionTimeoutMs ?? 10_000) / 4, 250), 2000);
    let last: unknown;
    this.watchdog = setInterval(() => {
      if (this.stateNow === 'connected' || this.stateNow === 'closed') {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
        return;
      }
      const socket = internals(this.client).socket;
      if (socket !== undefined && socket === last && !socket.connecting && !socket.destroyed) {
        this.log.debug('handshake stalled; reconnecting');
        socket.destroy();
      }
      last = socket;
    }, period);
    this.watchdog.unref();
  }

  private onExpired(): void {
    this.log.warn({ session: this.sessionIdHex }, 'ZooKeeper session expired; starting a new session');
    const old = this.client;
    this.watchFns.clear();
    this.failInFlight(new SessionExpiredError('a call'));
    this.generation++;
    this.stateNow = 'connecting';
    this.events.emit('state', 'connecting', { newSession: false });
    this.client = this.newClient();
    old.removeAllListeners('state');
    old.close();
    this.armWatchdog();
  }

  private setState(state: ZkSessionState, newSession: boolean): void {
    if (this.stateNow === state) return;
    this.stateNow = state;
    this.log.debug({ state, newSession }, 'ZooKeeper session state');
    this.events.emit('state', state, { newSession });
  }

  private failInFlight(err: Error): void {
    const rejecters = [...this.inFlight];
    this.inFlight.clear();
    for (const r of rejecters) r(err);
  }

  private watchFn(kind: 'data' | 'child', path: string): (e: { getType(): number; getPath(): string }) => void {
    const key = `${kind}\u0000${path}`;
    let fn = this.watchFns.get(key);
    if (fn === undefined) {
      const owner = this.client;
      fn = (e) => {
        if (this.watchFns.get(key) === fn) this.watchFns.delete(key);
        // Closing deletes our ephemerals, whose watches may still report to us: nobody listens any more.
        if (owner !== this.client || this.stateNow === 'closed') return;
        const t = e.getType();
        const type: ZkWatchType =
          t === Event.NODE_CREATED ? 'created' : t === Event.NODE_DELETED ? 'deleted' : t === Event.NODE_DATA_CHANGED ? 'dataChanged' : 'childrenChanged';
        this.events.emit('watch', { type, path: e.getPath() });
      };
      this.watchFns.set(key, fn);
    }
    return fn;
  }

  private async read<T>(what: string, path: string, start: (cb: (e: unknown, v: T) => void) => void): Promise<T | undefined> {
    for (;;) {
      try {
        return await this.call<T>(what, path, start);
      } catch (e) {
        if (e instanceof ZooKeeperError && e.zkCode === ZK_NO_NODE) return undefined;
        // A read has no effect: after a connection loss (or expiry) it is sent again on the next connection.
        if (!(e instanceof ConnectionLossError || e instanceof SessionExpiredError) || this.stateNow === 'closed') throw e;
      }
    }
  }

  private call<T>(what: string, path: string | undefined, start: (cb: (e: unknown, v: T) => void) => void): Promise<T> {
    if (this.stateNow === 'closed') return Promise.reject(new ClientClosedError(what));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        reject(err);
      };
      this.inFlight.add(fail);
      start((e, v) => {
        if (settled) return;
        if (e === null || e === undefined) {
          settled = true;
          this.inFlight.delete(fail);
          resolve(v);
          return;
        }
        if (e instanceof ZooKeeperError) return fail(e);
        const code = zkCodeOf(e);
        if (code === ZK_CONNECTION_LOSS) return fail(new ConnectionLossError(`${what}${path === undefined ? '' : ` ${path}`}`));
        if (code === ZK_SESSION_EXPIRED) return fail(new SessionExpiredError(what));
        if (code !== undefined) return fail(new ZooKeeperError(code, (e as ZkException).getName(), path, what));
        fail(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }
}
