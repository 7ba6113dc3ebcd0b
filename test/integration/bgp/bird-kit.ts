// BIRD 2 (Debian's bird2) as the upstream router in BGP integration tests and benchmarks: runs in a
// network namespace with its own config file, control socket, pid file and log in a temp dir, is
// driven through birdc, and is killed by PID on stop. Also the namespaces and veth of a gateway–BIRD
// pair. DESIGN: BGP (tests with a real peer of another implementation).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChildHandle, type NetnsLab, run, waitFor } from '../../helpers/netns.js';

export const BIRD_BINARY = '/usr/sbin/bird';
export const BIRDC_BINARY = '/usr/sbin/birdc';
export const GOBGPD_BINARY = '/usr/bin/gobgpd';

/** Running and not a zombie: an orphan that died may wait to be reaped by whoever adopted it. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Why these tests cannot run here, or undefined. */
export function bgpTestsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const f of [BIRD_BINARY, BIRDC_BINARY, GOBGPD_BINARY, '/usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto']) {
    if (!existsSync(f)) return `${f} is missing (apt-get install bird2 gobgpd golang-github-osrg-gobgp-dev)`;
  }
  return undefined;
}

export class Bird {
  private constructor(
    readonly ns: string,
    readonly dir: string,
    private readonly child: ChildHandle,
  ) {}

  get socket(): string {
    return join(this.dir, 'bird.ctl');
  }

  get configFile(): string {
    return join(this.dir, 'bird.conf');
  }

  get pid(): number | undefined {
    return this.child.proc.pid;
  }

  /** Starts bird in the foreground inside `ns` and waits until birdc answers. */
  static async start(lab: NetnsLab, ns: string, config: string): Promise<Bird> {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bird-'));
    writeFileSync(join(dir, 'bird.conf'), withLog(config, dir));
    const child = lab.spawn(ns, BIRD_BINARY, ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')]);
    const bird = new Bird(ns, dir, child);
    await waitFor(
      async () => {
        if (child.exitCode !== undefined) throw new Error(`bird exited (${child.exitCode}): ${child.stderr}`);
        return existsSync(bird.socket) && (await bird.birdc('show status', true)).includes('Daemon is up');
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'bird to answer on its socket' },
    );
    return bird;
  }

  /** Runs one birdc command and returns its output. */
  async birdc(command: string, allowFail = false): Promise<string> {
    const r = await run(BIRDC_BINARY, ['-s', this.socket, ...command.split(' ')], { allowFail, timeoutMs: 30_000 });
    return r.stdout;
  }

  /** The BGP state of a protocol as `show protocols` prints it: Established, Active, Connect, Idle... */
  async bgpState(protocol: string): Promise<string> {
    const out = await this.birdc(`show protocols ${protocol}`);
    const line = out.split('\n').find((l) => l.startsWith(`${protocol} `));
    if (line === undefined) throw new Error(`bird has no protocol ${protocol}:\n${out}`);
    // name proto table state since info (info = BGP state)
    const cols = line.trim().split(/\s+/);
    return cols[5] ?? cols[3] ?? '';
  }

  async waitEstablished(protocols: readonly string[], timeoutMs = 30_000): Promise<void> {
    for (const p of protocols) {
      await waitFor(async () => (await this.bgpState(p)) === 'Established', { timeoutMs, intervalMs: 100, what: `bird protocol ${p} Established` });
    }
  }

  /** `show route <prefix> all`: next hop ("via") and BGP.next_hop of the first route, or undefined. */
  async route(prefix: string): Promise<{ via: string | undefined; bgpNextHop: string | undefined; from: string | undefined } | undefined> {
    const out = await this.birdc(`show route ${prefix} all`, true);
    if (!out.includes(prefix.split('/')[0] ?? prefix)) return undefined;
    return {
      via: /\bvia\s+(\S+)/.exec(out)?.[1],
      bgpNextHop: /BGP\.next_hop:\s+(\S+)/.exec(out)?.[1],
      from: /\[(\S+)\s/.exec(out)?.[1],
    };
  }

  /** Prefixes in a table that a given protocol brought in. */
  async routesFrom(protocol: string, table: 'master4' | 'master6'): Promise<string[]> {
    const out = await this.birdc(`show route table ${table} protocol ${protocol}`, true);
    return [...out.matchAll(/^(\S+\/\d+)\s/gm)].map((m) => m[1] as string);
  }

  /** Rewrites the config and applies it (`configure`). */
  async reconfigure(config: string): Promise<void> {
    writeFileSync(this.configFile, withLog(config, this.dir));
    const out = await this.birdc('configure');
    if (!/Reconfigur|Reconfiguration in progress|Reconfigured/.test(out)) throw new Error(`bird configure failed:\n${out}`);
  }

  log(): string {
    const f = join(this.dir, 'bird.log');
    return existsSync(f) ? readFileSync(f, 'utf8').slice(-4000) : '';
  }

  /** Kills bird by PID and removes its directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === undefined && this.child.proc.pid !== undefined) {
      this.child.proc.kill('SIGKILL');
      await this.child.waitForExit(5000).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function withLog(config: string, dir: string): string {
  return `log "${join(dir, 'bird.log')}" all;\n${config}`;
}

/** A gateway namespace and a BIRD namespace joined by a veth, with IPv4 and IPv6 addresses. */
export interface UplinkPair {
  readonly gwNs: string;
  readonly birdNs: string;
  readonly gwIf: string;
  readonly birdIf: string;
}

export async function addUplinkPair(
  lab: NetnsLab,
  tag: string,
  gwAddrs: readonly string[],
  birdAddrs: readonly string[],
): Promise<UplinkPair> {
  const gwNs = await lab.addNamespace(`${tag}gw`, { ipv6: true });
  const birdNs = await lab.addNamespace(`${tag}bird`, { ipv6: true });
  const pair: UplinkPair = { gwNs, birdNs, gwIf: 'up0', birdIf: 'eth0' };
  await lab.addVeth({ ns: gwNs, ifname: pair.gwIf, up: false }, { ns: birdNs, ifname: pair.birdIf, up: false });
  // nodad: IPv6 addresses usable at once, not after duplicate address detection.
  for (const a of gwAddrs) await lab.exec(gwNs, 'ip', ['addr', 'add', a, 'dev', pair.gwIf, ...(a.includes(':') ? ['nodad'] : [])]);
  for (const a of birdAddrs) await lab.exec(birdNs, 'ip', ['addr', 'add', a, 'dev', pair.birdIf, ...(a.includes(':') ? ['nodad'] : [])]);
  await lab.setLink(gwNs, pair.gwIf, true);
  await lab.setLink(birdNs, pair.birdIf, true);
  return pair;
}

/** BIRD timers for tests: reconnect within a second or two after any failure. */
export const FAST_BIRD_TIMERS = 'connect delay time 1; connect retry time 2; error wait time 1, 2; error forget time 10; hold time 9; keepalive time 3;';
