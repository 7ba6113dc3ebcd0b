// The lab's world on this machine (DESIGN: Interfaces for people, `tollgate lab`), also the world of
// the datapath e2e tests: a real ZooKeeper holding the lab topology, three `tollgate agent`
// processes (two gateways whose uplinks form one ingress set, one compute host) tunnelling to each
// other over loopback, VMs and an "internet" as network namespaces on veths whose root-side ends the
// agents bind. With `bgp`, BIRD in the internet is the upstream router: the gateways peer with it
// over their uplinks and every route between the overlay and the internet is learned (lab-upstream.ts).
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LearnedRoutesReader, StorePaths, ZkClient, TopologyStore } from '../../agent-core/store/index.js';
import type { TopologyObject } from '../../agent-core/topology/index.js';
import { LAB, type LabTopologyOptions, buildLabTopology } from './lab-topology.js';
import type { Bird } from './bird.js';
import type { Underlay } from '../../agent-core/agent/underlay-mtu.js';
import { withHugePagesTunable } from '../huge-pages.js';
import { type ChildHandle, NetnsLab, waitFor } from './netns.js';
import { gatewayBgpYaml, LAB_BGP, STATIC_DEFAULT_ROUTE_IDS, startUpstreamRouter, upstreamProtocols } from './lab-upstream.js';
import { startZooKeeper, type ZooKeeperServer } from './zookeeper-server.js';

/** How to start `tollgate agent`: the compiled CLI next to this module, or the TypeScript source through tsx. */
function agentCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const cli = fileURLToPath(new URL(fromSource ? '../cli.ts' : '../cli.js', import.meta.url));
  return fromSource ? ['--import', 'tsx', cli] : [cli];
}

export type HostName = 'gwA' | 'gwB' | 'compute';

export interface AgentSpec {
  readonly hostId: string;
  readonly tunnelIp: string;
  readonly bindings: { port: string; interface: string }[];
}

export type TopologyEdit = (objects: TopologyObject[]) => TopologyObject[];

export interface LabWorldOptions {
  /** Edits the lab's topology before it is written to the store. */
  readonly edit?: TopologyEdit;
  /** Options of the lab's topology (buildLabTopology). */
  readonly topology?: LabTopologyOptions;
  /**
   * BIRD in the internet namespace as the upstream BGP router (IPv4 with both gateways, IPv6 with
   * gateway A); the provider router's static defaults and the internet's static route to the
   * floating range are left out: both directions route by what BGP learned. vm1 also has IPv6 and
   * the internet host LAB_BGP.internetHostV6.
   */
  readonly bgp?: boolean;
}

/** The upstream router of a world created with `bgp`. */
export interface LabUpstream {
  readonly bird: Bird;
  /** BIRD's BGP protocols towards the gateways. */
  readonly protocols: readonly string[];
  /** The network namespace each gateway's gobgpd runs in (unique per run). */
  readonly gobgpdNamespaces: Record<'gwA' | 'gwB', string>;
}

export interface AgentStatus {
  readonly counters: Record<string, number>;
  readonly waiting: number;
  readonly tables: Record<string, number>;
  readonly push: Record<string, number>;
  readonly datapath: Record<string, number> & { ports: Record<string, number>[] };
  /** Tunnel sources the agent accepts (the registered hosts' tunnel IPs); null: any, until the first listing. */
  readonly tunnelRemotes?: string[] | null;
  /** The interface under the tunnel (src/agent-core/agent/underlay-mtu.ts), and bound ports whose MTU outgrows it. */
  readonly underlay?: Underlay | null;
  readonly mtuProblems?: readonly string[];
  /** A gateway with a `bgp` section: gobgpd and its sessions (src/gateway/bgp/bgp-gateway.ts). */
  readonly bgp?: {
    readonly gobgpd: { readonly state: string; readonly pid?: number; readonly restarts: number };
    readonly peers: readonly { readonly address: string; readonly state: string; readonly flaps: number; readonly uptimeSeconds?: number }[];
    readonly advertised: readonly string[];
  };
}

export class LabWorld {
  readonly agents = new Map<HostName, ChildHandle>();
  readonly specs: Record<HostName, AgentSpec>;
  readonly ns: { inet: string; vm1: string; vm2: string };
  /** Root-namespace ends of the veths: uplink A, uplink B, vm1, vm2. */
  readonly ifs: { upA: string; upB: string; vm1: string; vm2: string };
  private readonly dir: string;
  private learnedReader: LearnedRoutesReader | undefined;

  private constructor(
    readonly lab: NetnsLab,
    readonly zk: ZooKeeperServer,
    readonly store: TopologyStore,
    private readonly client: ZkClient,
    readonly root: string,
    readonly tunnelPort: number,
    ns: { inet: string; vm1: string; vm2: string },
    ifs: { upA: string; upB: string; vm1: string; vm2: string },
    readonly upstream: LabUpstream | undefined,
  ) {
    this.ns = ns;
    this.ifs = ifs;
    this.dir = mkdtempSync(join(tmpdir(), 'tollgate-agents-'));
    // With an upstream BGP router the gateways' uplinks are `uplinks:` in their config, which the agent binds itself.
    const uplinkBinding = (port: string, ifname: string): { port: string; interface: string }[] => (upstream === undefined ? [{ port, interface: ifname }] : []);
    this.specs = {
      gwA: { hostId: LAB.hosts.gatewayA, tunnelIp: '127.0.0.11', bindings: uplinkBinding(LAB.uplinkA.port, ifs.upA) },
      gwB: { hostId: LAB.hosts.gatewayB, tunnelIp: '127.0.0.12', bindings: uplinkBinding(LAB.uplinkB.port, ifs.upB) },
      compute: {
        hostId: LAB.hosts.compute, tunnelIp: '127.0.0.13',
        bindings: [{ port: LAB.vm1.port, interface: ifs.vm1 }, { port: LAB.vm2.port, interface: ifs.vm2 }],
      },
    };
  }

  /** Builds namespaces, ZooKeeper and the topology (and BIRD with `bgp`); a function is taken as `{ edit }`. */
  static async create(options: LabWorldOptions | TopologyEdit = {}): Promise<LabWorld> {
    const opts: LabWorldOptions = typeof options === 'function' ? { edit: options } : options;
    const bgp = opts.bgp === true;
    const edit = opts.edit ?? ((o: TopologyObject[]) => o);
    const lab = await NetnsLab.create();
    let zk: ZooKeeperServer | undefined;
    let bird: Bird | undefined;
    try {
      zk = await startZooKeeper();
      const client = await ZkClient.connect(zk.connectionString, { sessionTimeoutMs: 10_000 });
      const root = `/tollgate-e2e-${process.pid}`;
      const store = new TopologyStore(client, { root });
      await store.ensureLayout();
      const built = buildLabTopology(opts.topology);
      const objects = edit(bgp ? built.filter((o) => !STATIC_DEFAULT_ROUTE_IDS.includes(o.id)) : built);
      await store.transact('lab topology', async (tx) => {
        for (const o of objects) tx.put(o);
      });
      const inet = await lab.addNamespace('inet', { ipv6: bgp });
      const vm1 = await lab.addNamespace('vm1', { ipv6: bgp });
      const vm2 = await lab.addNamespace('vm2');
      const ifs = { upA: lab.rootIfname('a'), upB: lab.rootIfname('b'), vm1: lab.rootIfname('1'), vm2: lab.rootIfname('2') };
      await lab.addVeth({ ns: inet, ifname: 'upa', addrs: ['192.0.2.1/28'], mac: LAB.uplinkA.peerMac }, { ns: undefined, ifname: ifs.upA, up: false });
      await lab.addVeth({ ns: inet, ifname: 'upb', addrs: ['198.51.100.1/28'], mac: LAB.uplinkB.peerMac }, { ns: undefined, ifname: ifs.upB, up: false });
      await lab.addVeth({ ns: vm1, ifname: 'eth0', addrs: [`${LAB.vm1.ip}/24`], mac: LAB.vm1.mac }, { ns: undefined, ifname: ifs.vm1, up: false });
      await lab.addVeth({ ns: vm2, ifname: 'eth0', addrs: [`${LAB.vm2.ip}/24`], mac: LAB.vm2.mac }, { ns: undefined, ifname: ifs.vm2, up: false });
      for (const i of Object.values(ifs)) {
        // The root namespace must stay out of these links' traffic: no IPv6 autoconfiguration, no addresses.
        await lab.sysctl(undefined, `net.ipv6.conf.${i}.disable_ipv6`, '1');
        // ...and must not answer ARP for its own addresses on them (arp_ignore 8: never).
        await lab.sysctl(undefined, `net.ipv4.conf.${i}.arp_ignore`, '8');
        await lab.setLink(undefined, i, true);
      }
      await lab.addAddress(inet, 'lo', `${LAB.internetHost}/32`);
      for (const k of ['all', 'default', 'upa', 'upb']) await lab.sysctl(inet, `net.ipv4.conf.${k}.rp_filter`, '0');
      if (bgp) {
        // IPv6 on uplink A only (the lab's uplink B has no IPv6 address); no autoconfiguration.
        await lab.sysctl(inet, 'net.ipv6.conf.upb.disable_ipv6', '1');
        await lab.sysctl(inet, 'net.ipv6.conf.upa.accept_ra', '0');
        await lab.exec(inet, 'ip', ['addr', 'add', `${LAB.uplinkV6.peer}/64`, 'dev', 'upa', 'nodad']);
        await lab.addAddress(inet, 'lo', `${LAB_BGP.internetHostV6}/128`);
        // vm1 speaks IPv6 too: out by the learned ::/0, back by the tenant prefix gateway A announced.
        await lab.sysctl(vm1, 'net.ipv6.conf.eth0.accept_ra', '0');
        await lab.exec(vm1, 'ip', ['addr', 'add', `${LAB.vm1.ip6}/64`, 'dev', 'eth0', 'nodad']);
        await lab.exec(vm1, 'ip', ['-6', 'route', 'add', 'default', 'via', LAB.netA.v6.split('/')[0]!]);
        bird = await startUpstreamRouter(lab, inet, true);
      } else {
        await lab.exec(inet, 'ip', ['route', 'add', LAB.floatingRange, 'via', '192.0.2.2']);
      }
      for (const [ns, gw] of [[vm1, LAB.netA.address], [vm2, LAB.netA.address]] as const) {
        await lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', gw.split('/')[0]!]);
      }
      const upstream: LabUpstream | undefined = bird === undefined ? undefined : {
        bird,
        protocols: upstreamProtocols(true),
        gobgpdNamespaces: { gwA: `${lab.prefix}-bgpa`, gwB: `${lab.prefix}-bgpb` },
      };
      return new LabWorld(lab, zk, store, client, root, await freeUdpPort(), { inet, vm1, vm2 }, ifs, upstream);
    } catch (e) {
      await bird?.stop();
      await lab.cleanup();
      await zk?.stop();
      throw e;
    }
  }

  /** The internet's route to the floating range: through uplink A (gateway A) or B (gateway B). */
  async routeInternetVia(uplink: 'A' | 'B'): Promise<void> {
    if (this.upstream !== undefined) throw new Error('routeInternetVia: in a world with an upstream BGP router the internet routes by what BGP learned');
    const via = uplink === 'A' ? '192.0.2.2' : '198.51.100.2';
    await this.lab.exec(this.ns.inet, 'ip', ['route', 'replace', LAB.floatingRange, 'via', via]);
  }

  configFile(host: HostName, opts: { push?: boolean } = {}): string {
    const s = this.specs[host];
    const file = join(this.dir, `${host}.yaml`);
    const yaml = [
      'host:',
      `  id: ${s.hostId}`,
      `  tunnelIp: ${s.tunnelIp}`,
      'zookeeper:',
      `  servers: ["${this.zk.connectionString}"]`,
      `  root: ${this.root}`,
      '  sessionTimeoutMs: 6000',
      'tunnel:',
      `  port: ${this.tunnelPort}`,
      'flowState:',
      `  push: ${opts.push ?? true}`,
      `  stateDir: ${join(this.dir, 'state')}`,
      s.bindings.length === 0 ? 'bindings: []' : 'bindings:',
      ...s.bindings.flatMap((b) => [`  - port: ${b.port}`, `    interface: ${b.interface}`]),
      ...(this.upstream !== undefined && host !== 'compute'
        ? gatewayBgpYaml(host, host === 'gwA' ? this.ifs.upA : this.ifs.upB, {
          namespace: this.upstream.gobgpdNamespaces[host],
          // Per run as well as per host: another lab or test may run beside this one.
          socket: join(this.dir, `${s.hostId}.gobgpd.sock`),
        }, true)
        : []),
      'logging:',
      `  level: ${process.env.TOLLGATE_E2E_LOG ?? 'warn'}`,
      '',
    ].join('\n');
    writeFileSync(file, yaml);
    return file;
  }

  /** The ZooKeeper session owning the host's registration (hex), undefined when it is not registered. */
  async hostSession(host: HostName): Promise<string | undefined> {
    const node = await this.client.getData(new StorePaths(this.root).host(this.specs[host].hostId));
    return node?.stat.ephemeralOwner.toString('hex');
  }

  /** Adds a binding to a running agent's config and has it reload (SIGHUP); resolves once it has. */
  async addBinding(host: HostName, port: string, ifname: string): Promise<void> {
    this.specs[host].bindings.push({ port, interface: ifname });
    this.configFile(host);
    await this.reload(host);
  }

  /** Rewrites the agent's config through `edit` and has it reload (SIGHUP); the next configFile() undoes the edit. */
  async reloadWith(host: HostName, edit: (yaml: string) => string): Promise<void> {
    const file = this.configFile(host);
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    await this.reload(host);
  }

  /** SIGHUP; resolves once the agent says it reloaded. */
  private async reload(host: HostName): Promise<void> {
    const child = this.agents.get(host);
    if (child === undefined) throw new Error(`agent ${host} is not running`);
    const before = child.lines.length;
    child.proc.kill('SIGHUP');
    await waitFor(() => child.lines.slice(before).some((l) => l.includes('reloaded')), { timeoutMs: 15_000, what: `${host} to reload` });
  }

  /** Which host binds the port, from its active state in the store. */
  async portHost(portId: string): Promise<string | undefined> {
    const node = await this.client.getData(new StorePaths(this.root).portActive(portId));
    return node === undefined ? undefined : (JSON.parse(node.data.toString()) as { port?: { hostId?: string } }).port?.hostId;
  }

  /** Where the agent keeps its conntrack and NAT state across restarts. */
  stateFile(host: HostName): string {
    return join(this.dir, 'state', `${this.specs[host].hostId}.flow-state.json`);
  }

  /** Starts the host's agent; `env` adds environment variables (the tests' fault injection). */
  async startAgent(host: HostName, opts: { push?: boolean; env?: Record<string, string> } = {}): Promise<ChildHandle> {
    const file = this.configFile(host, opts);
    // As bin/tollgate starts it: the flow table's arrays in transparent huge pages.
    const env = withHugePagesTunable({ ...process.env, ...opts.env }) as Record<string, string>;
    const child = this.lab.spawn(undefined, process.execPath, [...agentCommand(), 'agent', '--config', file], { env });
    this.agents.set(host, child);
    await child.waitForLine((l) => l.includes('ready'), 30_000);
    return child;
  }

  async startAll(): Promise<void> {
    await Promise.all((['gwA', 'gwB', 'compute'] as const).map((h) => this.startAgent(h)));
  }

  async stopAgent(host: HostName): Promise<void> {
    await this.agents.get(host)?.stop(5000);
    this.agents.delete(host);
  }

  /** The agent's counters (it prints them as one JSON line on SIGUSR2). */
  async status(host: HostName): Promise<AgentStatus> {
    const child = this.agents.get(host);
    if (child === undefined) throw new Error(`agent ${host} is not running`);
    const before = child.lines.length;
    child.proc.kill('SIGUSR2');
    let found: AgentStatus | undefined;
    await waitFor(() => {
      for (const l of child.lines.slice(before)) {
        if (l.startsWith('{"status"')) found = (JSON.parse(l) as { status: AgentStatus }).status;
      }
      return found !== undefined;
    }, { timeoutMs: 5000, what: `status of ${host}` });
    return found!;
  }

  /**
   * Pings once at a time until a reply comes (bounded): the first packets of a fresh world wait
   * for the agents to load the topology and resolve ARP. Throws if no reply came.
   */
  async warmUp(ns: string, dst: string, src?: string, tries = 10): Promise<void> {
    for (let i = 0; i < tries; i++) {
      if ((await this.ping(ns, dst, { count: 1, src })) === 1) return;
    }
    throw new Error(`no reply from ${dst} after ${tries} pings\n${this.logs()}`);
  }

  /** Ping count packets; the number of replies (ping's own summary). */
  async ping(ns: string, dst: string, opts: { count?: number; src?: string; intervalS?: number } = {}): Promise<number> {
    const args = ['-n', '-c', String(opts.count ?? 3), '-W', '2', '-i', String(opts.intervalS ?? 0.3)];
    if (opts.src !== undefined) args.push('-I', opts.src);
    const r = await this.lab.exec(ns, 'ping', [...args, dst], { allowFail: true, timeoutMs: 30_000 });
    const m = /(\d+) received/.exec(r.stdout);
    return m === null ? 0 : Number(m[1]);
  }

  /** curl with a bounded time; the body, or undefined when the transfer failed. */
  async curl(ns: string, url: string, maxTimeS = 8): Promise<string | undefined> {
    const r = await this.lab.exec(ns, 'curl', ['-s', '--max-time', String(maxTimeS), url], { allowFail: true, timeoutMs: (maxTimeS + 5) * 1000 });
    return r.code === 0 ? r.stdout : undefined;
  }

  /** The upstream router, or a clear error in a world created without `bgp`. */
  private requireUpstream(): LabUpstream {
    if (this.upstream === undefined) throw new Error('this lab world has no upstream BGP router (LabWorld.create({ bgp: true }))');
    return this.upstream;
  }

  /** BIRD's routing table (`birdc show route`). */
  async birdRoutes(): Promise<string> {
    return this.requireUpstream().bird.birdc('show route');
  }

  /** BIRD's BGP state per session: protocol name → Established, Active, Connect, Idle... */
  async bgpStates(): Promise<Record<string, string>> {
    const up = this.requireUpstream();
    const states: Record<string, string> = {};
    for (const p of up.protocols) states[p] = await up.bird.bgpState(p);
    return states;
  }

  /** Waits (bounded) until BIRD's sessions to the gateways are Established (all of them unless named). */
  async waitForBgp(opts: { protocols?: readonly string[]; timeoutMs?: number } = {}): Promise<void> {
    const up = this.requireUpstream();
    const protocols = opts.protocols ?? up.protocols;
    let last: Record<string, string> = {};
    await waitFor(async () => {
      last = await this.bgpStates();
      return protocols.every((p) => last[p] === 'Established');
    }, { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 200, what: `BGP sessions ${protocols.join(', ')} Established` }).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; BIRD says ${JSON.stringify(last)}\n${up.bird.log()}`);
    });
  }

  /**
   * The provider router's BGP-learned routes as every agent reads them from the store, as
   * "dst via gateway on port", sorted.
   */
  async learnedRoutes(): Promise<string[]> {
    this.learnedReader ??= new LearnedRoutesReader(this.client, { root: this.root });
    const reader = this.learnedReader;
    let routes = reader.routesOf(LAB.provider);
    await waitFor(() => (routes = reader.routesOf(LAB.provider)) !== undefined, { timeoutMs: 10_000, intervalMs: 20, what: 'the learned routes to load' });
    return (routes ?? []).filter((r) => r.origin === 'bgp').map((r) => `${r.dst} via ${r.gateway} on ${r.egressPortId}`).sort();
  }

  /** Everything the agents wrote to stderr (their logs), for failure messages. */
  logs(): string {
    return [...this.agents].map(([h, c]) => `--- ${h}\n${c.stderr}`).join('\n');
  }

  async teardown(): Promise<void> {
    if (process.env.TOLLGATE_E2E_LOG !== undefined) console.log(this.logs());
    for (const c of this.agents.values()) await c.stop(3000).catch(() => undefined);
    await this.upstream?.bird.stop().catch(() => undefined);
    this.learnedReader?.close();
    await this.client.close().catch(() => undefined);
    if (this.upstream !== undefined) await removeNamespaces(this.lab, Object.values(this.upstream.gobgpdNamespaces));
    await this.lab.cleanup();
    await this.zk.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Namespaces the agents made for gobgpd, if a stopped agent left them: processes killed by PID, then the namespace. */
async function removeNamespaces(lab: NetnsLab, names: readonly string[]): Promise<void> {
  for (const ns of names) {
    const pids = await lab.exec(undefined, 'ip', ['netns', 'pids', ns], { allowFail: true });
    if (pids.code !== 0) continue; // not there
    for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await lab.exec(undefined, 'ip', ['netns', 'del', ns], { allowFail: true });
  }
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
