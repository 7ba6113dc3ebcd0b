// BIRD 2 (Debian's bird2) as an upstream BGP router: the lab's provider-side router (`tollgate lab
// --bgp`) and the peer of the BGP integration tests and benchmark. Runs in a network namespace with
// its own config, control socket, pid file and log in a temp dir, is driven through birdc, and is
// killed by PID on stop. DESIGN: BGP (a real peer of another implementation), Interfaces for people.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChildHandle, type NetnsLab, run, waitFor } from './netns.js';

export const BIRD_BINARY = '/usr/sbin/bird';
export const BIRDC_BINARY = '/usr/sbin/birdc';

/** BIRD timers for tests and the lab: reconnect within a second or two after any failure. */
export const FAST_BIRD_TIMERS = 'connect delay time 1; connect retry time 2; error wait time 1, 2; error forget time 10; hold time 9; keepalive time 3;';

/** Why BIRD cannot run here, or undefined. */
export function birdUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const f of [BIRD_BINARY, BIRDC_BINARY]) {
    if (!existsSync(f)) return `${f} is missing (apt-get install bird2)`;
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
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== undefined) throw new Error(`bird exited (${child.exitCode}): ${child.stderr}`);
          return existsSync(bird.socket) && (await bird.birdc('show status', true)).includes('Daemon is up');
        },
        { timeoutMs: 20_000, intervalMs: 50, what: 'bird to answer on its socket' },
      );
    } catch (err) {
      await bird.stop();
      throw err;
    }
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
