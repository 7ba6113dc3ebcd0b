// Runs gobgpd as a child of the agent: spawns it (optionally inside a network namespace) with its
// gRPC API on loopback TCP or a unix socket, waits until the API answers, lets the caller configure
// it, restarts it with exponential backoff when it dies (the caller re-applies everything), and ties
// its life to the agent's. DESIGN: BGP (spawned by the agent, configured over gRPC, dies with it).
//
// Fate sharing: gobgpd is started through `setpriv --pdeathsig KILL` (util-linux), so the kernel
// kills it when the agent dies, even by SIGKILL, and upstream peers see the session drop at once.
// `ip netns exec` and setpriv exec in place, so the child's PID is gobgpd's and its parent is the
// agent. A process 'exit' hook kills it as well where setpriv is missing.
//
// Namespaces: a TCP API on 127.0.0.1 inside another namespace is unreachable from the agent, so a
// gobgpd in a namespace serves its API on a unix socket, which any namespace reaches by path.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { storeLogger } from '../agent-core/store/index.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { GobgpdStartError } from './errors.js';
import { GobgpClient } from './gobgp-client.js';

export const DEFAULT_GOBGPD_BINARY = '/usr/bin/gobgpd';
export const DEFAULT_SETPRIV_BINARY = '/usr/bin/setpriv';

export type GobgpdApiEndpoint = { readonly port: number; readonly host?: string } | { readonly socket: string };

export interface GobgpdExit {
  readonly generation: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface GobgpdSupervisorOptions {
  readonly api: GobgpdApiEndpoint;
  readonly binary?: string;
  readonly protoDir?: string;
  /** Run gobgpd inside this network namespace (`ip netns exec`); needs a unix socket API. */
  readonly netns?: string;
  /** gobgpd's -l. Its lines are logged at debug, its warnings and errors as such. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Until the API answers after a spawn; default 15 s. */
  readonly startTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** Kill gobgpd when the agent dies, through setpriv (default: when setpriv exists). */
  readonly pdeathsig?: boolean;
  readonly setprivBinary?: string;
  readonly logger?: Logger;
  /** After every (re)start, once the API answers: configure gobgpd from nothing. A throw restarts it. */
  readonly configure: (client: GobgpClient, generation: number) => Promise<void>;
  /** A running gobgpd died (its sessions are gone); called before the restart wait. */
  readonly onExit?: (exit: GobgpdExit) => void;
}

export type GobgpdState = 'stopped' | 'starting' | 'running' | 'backoff';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export class GobgpdSupervisor {
  private readonly log: Logger;
  private readonly gobgpdLog: Logger;
  private readonly binary: string;
  private readonly backoff: Required<BackoffOptions>;
  private child: ChildProcess | undefined;
  private current: GobgpClient | undefined;
  private generation = 0;
  private failures = 0;
  private restartCount = 0;
  private runningSince = 0;
  private stateNow: GobgpdState = 'stopped';
  private stopping = false;
  private firstStart = false;
  private restartNow = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly output: string[] = [];
  private stateListeners: ((s: GobgpdState, generation: number) => void)[] = [];

  constructor(private readonly options: GobgpdSupervisorOptions) {
    this.log = storeLogger(options.logger, 'gobgpd-supervisor');
    this.gobgpdLog = storeLogger(options.logger, 'gobgpd');
    this.binary = options.binary ?? DEFAULT_GOBGPD_BINARY;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    if (options.netns !== undefined && !('socket' in options.api)) {
      throw new GobgpdStartError(`gobgpd in network namespace ${options.netns} needs a unix socket API: 127.0.0.1 there is not the agent's`);
    }
  }

  get state(): GobgpdState {
    return this.stateNow;
  }

  /** The client of the running gobgpd; undefined while none answers. */
  get client(): GobgpClient | undefined {
    return this.stateNow === 'running' ? this.current : undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Restarts after the first start. */
  get restarts(): number {
    return this.restartCount;
  }

  /** ms since epoch when the running gobgpd became ready; 0 when none runs. */
  get since(): number {
    return this.stateNow === 'running' ? this.runningSince : 0;
  }

  get target(): string {
    const api = this.options.api;
    return 'socket' in api ? `unix://${api.socket}` : `${api.host ?? '127.0.0.1'}:${api.port}`;
  }

  onState(listener: (s: GobgpdState, generation: number) => void): () => void {
    this.stateListeners.push(listener);
    return () => {
      this.stateListeners = this.stateListeners.filter((l) => l !== listener);
    };
  }

  /** Spawns and configures gobgpd; throws GobgpdStartError if the first one fails (no retry then). */
  async start(): Promise<void> {
    if (this.stateNow !== 'stopped') throw new GobgpdStartError(`gobgpd is already ${this.stateNow}`);
    if (!existsSync(this.binary)) throw new GobgpdStartError(`${this.binary} is missing: apt-get install gobgpd, or set the gobgpd path`);
    this.stopping = false;
    this.firstStart = true;
    try {
      await this.launch();
    } finally {
      this.firstStart = false;
    }
  }

  /** Replaces the running gobgpd with a new one at once (no backoff); resolves when it runs. */
  async restart(timeoutMs = 30_000): Promise<void> {
    const gen = this.generation;
    const running = this.waitRunning(gen, timeoutMs);
    this.restartNow = true;
    if (this.child !== undefined) this.child.kill('SIGTERM');
    else if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.restartCount++;
      void this.launch();
    }
    await running;
  }

  /** Stops gobgpd (SIGTERM: it closes its sessions with a Cease; SIGKILL after 3 s) and does not restart it. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.child;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      if (!(await exited(c, 3000))) {
        c.kill('SIGKILL');
        await exited(c, 3000);
      }
    }
    this.current?.close();
    this.current = undefined;
    this.setState('stopped');
  }

  /** The last lines gobgpd printed. */
  recentOutput(): string {
    return this.output.join('\n');
  }

  // --- internals ---

  private async launch(): Promise<void> {
    const gen = ++this.generation;
    this.setState('starting');
    const child = this.spawnChild(gen);
    const client = new GobgpClient({ target: this.target, protoDir: this.options.protoDir });
    this.current?.close();
    this.current = client;
    try {
      await this.waitForApi(client, child);
      await this.options.configure(client, gen);
      if (gen !== this.generation || this.stopping) return;
      this.runningSince = Date.now();
      this.setState('running');
      this.log.info({ pid: child.pid, generation: gen }, 'gobgpd running');
    } catch (err) {
      if (gen !== this.generation || this.stopping) return;
      const out = this.recentOutput();
      if (this.firstStart) {
        await this.kill(child);
        this.current = undefined;
        client.close();
        this.setState('stopped');
        throw err instanceof GobgpdStartError ? err : new GobgpdStartError(`configuring gobgpd failed: ${(err as Error).message}`, out);
      }
      this.log.error({ err, output: out }, `gobgpd generation ${gen} failed to start; killing it to retry`);
      // Its exit schedules the retry with backoff.
      child.kill('SIGKILL');
    }
  }

  private spawnChild(gen: number): ChildProcess {
    const api = this.options.api;
    if ('socket' in api && existsSync(api.socket) && lstatSync(api.socket).isSocket()) unlinkSync(api.socket);
    const apiHost = 'socket' in api ? `unix://${api.socket}` : `${api.host ?? '127.0.0.1'}:${api.port}`;
    const gobgpd = [this.binary, '--api-hosts', apiHost, '--pprof-disable', '-l', this.options.logLevel ?? 'info'];
    const setpriv = this.options.setprivBinary ?? DEFAULT_SETPRIV_BINARY;
    const usePdeathsig = this.options.pdeathsig ?? existsSync(setpriv);
    if (usePdeathsig && !existsSync(setpriv)) throw new GobgpdStartError(`${setpriv} is missing (util-linux): needed to kill gobgpd with the agent`);
    if (!usePdeathsig && gen === 1) this.log.warn(`running gobgpd without ${setpriv} --pdeathsig: if the agent is killed (SIGKILL), gobgpd and its sessions outlive it`);
    const inner = usePdeathsig ? [setpriv, '--pdeathsig', 'KILL', '--', ...gobgpd] : gobgpd;
    const argv = this.options.netns !== undefined ? ['ip', 'netns', 'exec', this.options.netns, ...inner] : inner;
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on('line', (line) => this.onOutput(line));
    }
    child.once('error', (err) => this.log.error({ err }, `spawning ${argv[0]} failed`));
    child.once('exit', (code, signal) => this.onExit(gen, child, code, signal));
    this.log.debug({ pid: child.pid, argv, generation: gen }, 'gobgpd spawned');
    return child;
  }

  private async waitForApi(client: GobgpClient, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new GobgpdStartError(`gobgpd exited (code ${child.exitCode}, signal ${child.signalCode}) before its API answered`, this.recentOutput());
      }
      try {
        await client.getBgp(1000);
        return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new GobgpdStartError(`gobgpd's API on ${this.target} did not answer in time`, this.recentOutput());
      await sleep(50);
    }
  }

  private onExit(gen: number, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    if (gen !== this.generation || this.stopping || this.firstStart) return;
    const wasRunning = this.stateNow === 'running';
    const ranMs = wasRunning ? Date.now() - this.runningSince : 0;
    this.current?.close();
    this.current = undefined;
    this.options.onExit?.({ generation: gen, code, signal });
    let delay: number;
    if (this.restartNow) {
      this.restartNow = false;
      this.failures = 0;
      delay = 0;
    } else {
      if (ranMs >= this.backoff.stableMs) this.failures = 0;
      delay = backoffDelay(this.failures, this.backoff);
      this.failures++;
      this.log.warn({ code, signal, generation: gen, output: this.recentOutput() }, `gobgpd exited (code ${code}, signal ${signal}); restarting in ${delay} ms`);
    }
    this.setState('backoff');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopping) return;
      this.restartCount++;
      void this.launch();
    }, delay);
  }

  private async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited(child, 3000);
  }

  private waitRunning(afterGeneration: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new GobgpdStartError(`gobgpd did not come back within ${timeoutMs} ms`, this.recentOutput()));
      }, timeoutMs);
      const off = this.onState((s, gen) => {
        if (s === 'running' && gen > afterGeneration) {
          clearTimeout(t);
          off();
          resolve();
        }
      });
    });
  }

  private onOutput(line: string): void {
    this.output.push(line);
    if (this.output.length > 40) this.output.shift();
    let rec: { level?: string; msg?: string } | undefined;
    try {
      rec = JSON.parse(line) as { level?: string; msg?: string };
    } catch {
      rec = undefined;
    }
    const level = rec?.level === 'warning' || rec?.level === 'warn' ? 'warn' : rec?.level === 'error' || rec?.level === 'fatal' || rec?.level === 'panic' ? 'error' : 'debug';
    this.gobgpdLog[level]({ gobgpd: rec ?? line }, rec?.msg ?? line);
  }

  private setState(s: GobgpdState): void {
    this.stateNow = s;
    for (const l of [...this.stateListeners]) l(s, this.generation);
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
