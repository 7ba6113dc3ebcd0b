// The lab's world on this machine (DESIGN: Interfaces for people, `tollgate lab`), also the world of
// the datapath e2e tests: a real ZooKeeper holding the lab topology, three `tollgate agent`
// processes (two gateways whose uplinks form one ingress set, one compute host) tunnelling to each
// other over loopback, VMs and an "internet" as network namespaces on veths whose root-side ends the
// agents bind.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorePaths, ZkClient, TopologyStore } from '../../agent-core/store/index.js';
import type { TopologyObject } from '../../agent-core/topology/index.js';
import { LAB, buildLabTopology } from './lab-topology.js';
import { type ChildHandle, NetnsLab, waitFor } from './netns.js';
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

export interface AgentStatus {
  readonly counters: Record<string, number>;
  readonly waiting: number;
  readonly tables: Record<string, number>;
  readonly push: Record<string, number>;
  readonly datapath: Record<string, number> & { ports: Record<string, number>[] };
}

export class LabWorld {
  readonly agents = new Map<HostName, ChildHandle>();
  readonly specs: Record<HostName, AgentSpec>;
  readonly ns: { inet: string; vm1: string; vm2: string };
  /** Root-namespace ends of the veths: uplink A, uplink B, vm1, vm2. */
  readonly ifs: { upA: string; upB: string; vm1: string; vm2: string };
  private readonly dir: string;

  private constructor(
    readonly lab: NetnsLab,
    readonly zk: ZooKeeperServer,
    readonly store: TopologyStore,
    private readonly client: ZkClient,
    readonly root: string,
    readonly tunnelPort: number,
    ns: { inet: string; vm1: string; vm2: string },
    ifs: { upA: string; upB: string; vm1: string; vm2: string },
  ) {
    this.ns = ns;
    this.ifs = ifs;
    this.dir = mkdtempSync(join(tmpdir(), 'tollgate-agents-'));
    this.specs = {
      gwA: { hostId: LAB.hosts.gatewayA, tunnelIp: '127.0.0.11', bindings: [{ port: LAB.uplinkA.port, interface: ifs.upA }] },
      gwB: { hostId: LAB.hosts.gatewayB, tunnelIp: '127.0.0.12', bindings: [{ port: LAB.uplinkB.port, interface: ifs.upB }] },
      compute: {
        hostId: LAB.hosts.compute, tunnelIp: '127.0.0.13',
        bindings: [{ port: LAB.vm1.port, interface: ifs.vm1 }, { port: LAB.vm2.port, interface: ifs.vm2 }],
      },
    };
  }

  /** Builds namespaces, ZooKeeper and the topology; `topology` may edit the lab's objects first. */
  static async create(edit: (objects: TopologyObject[]) => TopologyObject[] = (o) => o): Promise<LabWorld> {
    const lab = await NetnsLab.create();
    let zk: ZooKeeperServer | undefined;
    try {
      zk = await startZooKeeper();
      const client = await ZkClient.connect(zk.connectionString, { sessionTimeoutMs: 10_000 });
      const root = `/tollgate-e2e-${process.pid}`;
      const store = new TopologyStore(client, { root });
      await store.ensureLayout();
      const objects = edit(buildLabTopology());
      await store.transact('lab topology', async (tx) => {
        for (const o of objects) tx.put(o);
      });
      const inet = await lab.addNamespace('inet');
      const vm1 = await lab.addNamespace('vm1');
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
      await lab.exec(inet, 'ip', ['route', 'add', LAB.floatingRange, 'via', '192.0.2.2']);
      for (const [ns, gw] of [[vm1, LAB.netA.address], [vm2, LAB.netA.address]] as const) {
        await lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', gw.split('/')[0]!]);
      }
      const world = new LabWorld(lab, zk, store, client, root, await freeUdpPort(), { inet, vm1, vm2 }, ifs);
      return world;
    } catch (e) {
      await lab.cleanup();
      await zk?.stop();
      throw e;
    }
  }

  /** The internet's route to the floating range: through uplink A (gateway A) or B (gateway B). */
  async routeInternetVia(uplink: 'A' | 'B'): Promise<void> {
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
      'bindings:',
      ...s.bindings.flatMap((b) => [`  - port: ${b.port}`, `    interface: ${b.interface}`]),
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

  async startAgent(host: HostName, opts: { push?: boolean } = {}): Promise<ChildHandle> {
    const file = this.configFile(host, opts);
    const child = this.lab.spawn(undefined, process.execPath, [...agentCommand(), 'agent', '--config', file]);
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

  /** Everything the agents wrote to stderr (their logs), for failure messages. */
  logs(): string {
    return [...this.agents].map(([h, c]) => `--- ${h}\n${c.stderr}`).join('\n');
  }

  async teardown(): Promise<void> {
    if (process.env.TOLLGATE_E2E_LOG !== undefined) console.log(this.logs());
    for (const c of this.agents.values()) await c.stop(3000).catch(() => undefined);
    await this.client.close().catch(() => undefined);
    await this.lab.cleanup();
    await this.zk.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
