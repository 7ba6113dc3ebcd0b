// Network namespaces, veth pairs and child processes for `tollgate lab` and the e2e tests: everything is named under a
// per-run prefix and removed by name (processes by PID) on teardown, also after a failed test.
//
// Reaching into a namespace: the jest process cannot enter one itself (setns(2) acts on one
// thread, and Node has no binding for it). Three ways, best first:
//  1. AfPacketPort.open(ifname, { netns }) — the addon creates its socket on a short-lived thread
//     that entered the namespace; a socket keeps the namespace it was created in.
//  2. lab.exec(ns, ...) / lab.spawn(ns, ...) / lab.spawnNode(ns, script): commands and child Node
//     processes under `ip netns exec`, reporting over stdout (one JSON object a line).
//  3. A veth end left in the root namespace (addVeth with ns undefined) for plain sockets of the
//     test process; its name comes from lab.rootIfname() so it cannot clash with the host's.
//
// Namespaces are named `tg-<pid>-<random>-<name>`. NetnsLab.create() first removes namespaces
// of earlier runs whose process is gone (a run killed before its afterAll).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long. Default 10 s. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the command fails. */
  allowFail?: boolean;
  input?: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly command: string,
    readonly result: ExecResult,
  ) {
    super(`${command} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/** Runs a command with a hard timeout; throws ExecError on failure unless allowFail. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const command = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        const result = { code, stdout, stderr: err !== null && err.killed ? `${stderr}(timed out)` : stderr };
        if (code !== 0 && opts.allowFail !== true) reject(new ExecError(command, result));
        else resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Polls pred until it holds; throws after timeoutMs naming what it waited for. */
export async function waitFor(
  pred: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}

/** Why namespace tests cannot run here, or undefined when they can (root and iproute2). */
export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return 'needs iproute2 (ip)';
  }
  return undefined;
}

export interface VethEnd {
  /** Full namespace name from addNamespace; undefined for the root namespace. */
  ns: string | undefined;
  /** At most 15 characters; in the root namespace take it from lab.rootIfname(). */
  ifname: string;
  /** Addresses with prefix length, e.g. '192.0.2.1/24'. */
  addrs?: readonly string[];
  /** MAC as aa:bb:cc:dd:ee:ff; the kernel picks a random one otherwise. */
  mac?: string;
  /** Bring the link up (default true). */
  up?: boolean;
}

export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** A child process with its stdout split into lines, for waiting on what it reports. */
export class ChildHandle {
  readonly lines: string[] = [];
  stderr = '';
  exitCode: number | null | undefined;
  #partial = '';

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    proc.on('exit', (code) => {
      this.exitCode = code;
    });
  }

  /** Lines parsed as JSON (other lines skipped). */
  json<T = unknown>(): T[] {
    const out: T[] = [];
    for (const l of this.lines) {
      if (l.startsWith('{') || l.startsWith('[')) out.push(JSON.parse(l) as T);
    }
    return out;
  }

  /** Waits for a line matching pred; fails early if the process exits first. */
  async waitForLine(pred: (line: string) => boolean, timeoutMs = 5000): Promise<string> {
    let found: string | undefined;
    await waitFor(
      () => {
        found = this.lines.find(pred);
        if (found === undefined && this.exitCode !== undefined) {
          throw new Error(`child exited (${this.exitCode}) before the expected line; stderr: ${this.stderr}`);
        }
        return found !== undefined;
      },
      { timeoutMs, what: `a line from child ${this.proc.pid}` },
    );
    return found!;
  }

  /** SIGTERM, then SIGKILL if it is still there after graceMs. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.proc.kill('SIGTERM');
    try {
      await this.waitForExit(graceMs);
    } catch {
      this.proc.kill('SIGKILL');
      await this.waitForExit(graceMs);
    }
  }

  async waitForExit(timeoutMs = 5000): Promise<number | null> {
    await waitFor(() => this.exitCode !== undefined, { timeoutMs, what: `child ${this.proc.pid} to exit` });
    return this.exitCode ?? null;
  }
}

export class NetnsLab {
  /** `tg-<pid>-<random>`: every namespace and root-namespace link of this lab starts with it. */
  readonly prefix: string;
  readonly #namespaces: string[] = [];
  readonly #rootLinks: string[] = [];
  readonly #children: ChildHandle[] = [];

  private constructor() {
    this.prefix = `tg-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  /** A new lab; removes namespaces left by earlier runs whose process has died. */
  static async create(): Promise<NetnsLab> {
    const why = netnsUnavailableReason();
    if (why !== undefined) throw new Error(`network namespaces unavailable: ${why}`);
    await NetnsLab.sweepStale();
    return new NetnsLab();
  }

  static async sweepStale(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync('/run/netns');
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^tg-(\d+)-[0-9a-f]+-/.exec(name);
      if (m === null || isAlive(Number(m[1]))) continue;
      await killNamespacePids(name);
      await run('ip', ['netns', 'del', name], { allowFail: true });
    }
  }

  /** Creates `<prefix>-<name>` with lo up; IPv6 off unless asked, so no stray ND/MLD traffic. */
  async addNamespace(name: string, opts: { ipv6?: boolean } = {}): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await run('ip', ['netns', 'add', ns]);
    this.#namespaces.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    if (opts.ipv6 !== true) {
      // `default` covers links created later, `all` the ones already there.
      await this.sysctl(ns, 'net.ipv6.conf.default.disable_ipv6', '1');
      await this.sysctl(ns, 'net.ipv6.conf.all.disable_ipv6', '1');
    }
    return ns;
  }

  /** A unique link name for the root namespace (15 characters at most). */
  rootIfname(tag = ''): string {
    return `tg${randomBytes(4).toString('hex')}${tag}`.slice(0, 15);
  }

  /** Creates a veth pair between two namespaces (or one and the root), then addresses and state. */
  async addVeth(a: VethEnd, b: VethEnd): Promise<void> {
    const end = (e: VethEnd): string[] => [
      e.ifname,
      ...(e.ns !== undefined ? ['netns', e.ns] : []),
      ...(e.mac !== undefined ? ['address', e.mac] : []),
    ];
    await run('ip', ['link', 'add', ...end(a), 'type', 'veth', 'peer', 'name', ...end(b)]);
    for (const e of [a, b]) if (e.ns === undefined) this.#rootLinks.push(e.ifname);
    for (const e of [a, b]) {
      for (const addr of e.addrs ?? []) await this.addAddress(e.ns, e.ifname, addr);
      if (e.up !== false) await this.setLink(e.ns, e.ifname, true);
    }
  }

  async addAddress(ns: string | undefined, ifname: string, cidr: string): Promise<void> {
    await run('ip', [...nsArgs(ns), 'addr', 'add', cidr, 'dev', ifname]);
  }

  async setLink(ns: string | undefined, ifname: string, up: boolean): Promise<void> {
    await run('ip', [...nsArgs(ns), 'link', 'set', ifname, up ? 'up' : 'down']);
  }

  async sysctl(ns: string | undefined, key: string, value: string): Promise<void> {
    await this.exec(ns, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  /** The link's MAC as aa:bb:cc:dd:ee:ff. */
  async linkMac(ns: string | undefined, ifname: string): Promise<string> {
    const r = await run('ip', [...nsArgs(ns), '-j', 'link', 'show', 'dev', ifname]);
    return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
  }

  async linkStats(ns: string | undefined, ifname: string): Promise<LinkStats> {
    const r = await run('ip', [...nsArgs(ns), '-j', '-s', 'link', 'show', 'dev', ifname]);
    const s = (JSON.parse(r.stdout) as { stats64: { rx: Record<string, number>; tx: Record<string, number> } }[])[0]!
      .stats64;
    return { rxPackets: s.rx.packets!, txPackets: s.tx.packets!, rxDropped: s.rx.dropped!, txDropped: s.tx.dropped! };
  }

  /** Runs a command inside ns (or in the root namespace), bounded by a timeout. */
  exec(ns: string | undefined, cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return ns === undefined ? run(cmd, args, opts) : run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** Starts a long-running command inside ns; it is killed on cleanup if still running. */
  spawn(ns: string | undefined, cmd: string, args: readonly string[] = [], opts: { env?: Record<string, string> } = {}): ChildHandle {
    const [file, argv] = ns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', ns, cmd, ...args]];
    const env = opts.env === undefined ? undefined : { ...process.env, ...opts.env };
    const child = new ChildHandle(spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], env }));
    this.#children.push(child);
    return child;
  }

  /** Runs an ES module given as source with this Node binary inside ns; args land in process.argv[1..]. */
  spawnNode(ns: string | undefined, source: string, args: readonly string[] = []): ChildHandle {
    return this.spawn(ns, process.execPath, ['--input-type=module', '-e', source, '--', ...args]);
  }

  /** Kills children (by PID), anything else left in the namespaces, then deletes them by name. */
  async cleanup(): Promise<void> {
    for (const c of this.#children) {
      if (c.exitCode === undefined && c.proc.pid !== undefined) c.proc.kill('SIGKILL');
    }
    await Promise.all(
      this.#children.map((c) =>
        c.exitCode !== undefined ? undefined : c.waitForExit(2000).catch(() => undefined),
      ),
    );
    for (const ns of this.#namespaces.splice(0)) {
      await killNamespacePids(ns);
      await run('ip', ['netns', 'del', ns], { allowFail: true });
    }
    for (const link of this.#rootLinks.splice(0)) {
      await run('ip', ['link', 'del', link], { allowFail: true });
    }
  }
}

function nsArgs(ns: string | undefined): string[] {
  return ns === undefined ? [] : ['-n', ns];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function killNamespacePids(ns: string): Promise<void> {
  const r = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  for (const pid of r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
