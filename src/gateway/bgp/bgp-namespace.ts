// gobgpd's network namespace (DESIGN: BGP): one macvlan per peering uplink on the uplink's host
// interface, carrying the uplink port's addresses and MAC, so that gobgpd's sessions and the
// kernel's ARP/ND there speak as the uplink. The kernel delivers those frames to it (the datapath,
// which sees copies on its AF_PACKET socket, drops the BGP ones), and gobgpd's frames leave by the
// kernel: when the agent dies and gobgpd with it, the peers get the connection's close at once
// instead of waiting out their hold timer. nftables in the namespace lets only BGP and neighbour
// discovery in and out, so the namespace never answers what the virtual router answers (pings,
// resets to other ports). Created at start (a stale one from a crashed agent is replaced), removed
// at stop.
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { cidrContains, isIp6, parseCidr, parseIp } from '../../agent-core/packet/index.js';
import type { UplinkConfig } from '../config/index.js';

export class BgpNamespaceError extends Error {
  override readonly name = 'BgpNamespaceError';
}

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new BgpNamespaceError(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * The macvlan's name (at most 15 bytes) from the namespace, host and uplink port: stable across
 * restarts, distinct between agents (and labs) on one machine.
 */
export function controlInterfaceOf(namespace: string, hostId: string, uplinkPortId: string): string {
  return `tgb${createHash('sha256').update(`${namespace}\0${hostId}\0${uplinkPortId}`).digest('hex').slice(0, 8)}`;
}

/** The namespace's firewall: BGP on `tcpPorts` and neighbour discovery only (nft -f syntax). */
export function controlFirewall(tcpPorts: readonly number[]): string {
  const ports = `{ ${[...new Set(tcpPorts)].join(', ')} }`;
  return `table inet tollgate_bgp {
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    tcp dport ${ports} accept
    tcp sport ${ports} accept
    ct state established,related accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
  }
  chain output {
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    tcp sport ${ports} accept
    tcp dport ${ports} accept
    icmpv6 type nd-neighbor-solicit accept
  }
}
`;
}

export class BgpNamespace {
  /** Uplink port → the macvlan in this namespace. */
  private readonly links = new Map<string, string>();

  private constructor(
    readonly name: string,
    private readonly hostId: string,
  ) {}

  /** Creates the namespace with its firewall, first removing one left by an agent that died. */
  static async create(name: string, hostId: string, tcpPorts: readonly number[]): Promise<BgpNamespace> {
    const existing = await ip(['netns', 'list']);
    if (existing.split('\n').some((l) => l.split(' ')[0] === name)) await ip(['netns', 'del', name]);
    await ip(['netns', 'add', name]);
    const ns = new BgpNamespace(name, hostId);
    try {
      await ns.exec(['link', 'set', 'lo', 'up']);
      await nft(name, controlFirewall(tcpPorts));
    } catch (e) {
      await ns.destroy();
      throw e;
    }
    return ns;
  }

  /** The uplink's macvlan with its addresses and MAC, in this namespace; returns its name. */
  async addUplink(u: UplinkConfig): Promise<string> {
    const name = controlInterfaceOf(this.name, this.hostId, u.port.id);
    const inUplinkNs = u.netns === undefined ? [] : ['-n', u.netns];
    // One left in the uplink's namespace by a move that failed goes first.
    await ip([...inUplinkNs, 'link', 'del', name]).catch(() => undefined);
    await ip([...inUplinkNs, 'link', 'add', 'link', u.interface, 'name', name, 'type', 'macvlan', 'mode', 'private']);
    await ip([...inUplinkNs, 'link', 'set', name, 'netns', this.name]);
    this.links.set(u.port.id, name);
    // The virtual router answers ARP for the uplink's addresses; the namespace only asks.
    await sysctl(this.name, `net.ipv4.conf.${name}.arp_ignore`, '8');
    if (!u.port.address.some((a) => a.includes(':'))) await sysctl(this.name, `net.ipv6.conf.${name}.disable_ipv6`, '1');
    else {
      // gobgpd's namespace is not a host on the link: no router solicitations, no autoconfiguration.
      await sysctl(this.name, `net.ipv6.conf.${name}.accept_ra`, '0');
      await sysctl(this.name, `net.ipv6.conf.${name}.router_solicitations`, '0');
      await sysctl(this.name, `net.ipv6.conf.${name}.autoconf`, '0');
    }
    await this.exec(['link', 'set', name, 'address', u.port.mac]);
    for (const a of u.port.address) {
      // nodad: the address is the virtual router's, in use on the link by design.
      await this.exec(['addr', 'add', a, 'dev', name, ...(a.includes(':') ? ['nodad'] : [])]);
    }
    await this.exec(['link', 'set', name, 'up']);
    for (const r of multihopRoutes(u)) await this.exec(['route', 'replace', r.dst, 'via', r.via, 'dev', name]);
    return name;
  }

  async removeUplink(uplinkPortId: string): Promise<void> {
    const name = this.links.get(uplinkPortId);
    if (name === undefined) return;
    this.links.delete(uplinkPortId);
    await this.exec(['link', 'del', name]).catch(() => undefined);
  }

  /** The macvlan of each uplink. */
  interfaces(): { uplinkPortId: string; ifname: string }[] {
    return [...this.links].map(([uplinkPortId, ifname]) => ({ uplinkPortId, ifname }));
  }

  /** Removes the namespace and its macvlans. */
  async destroy(): Promise<void> {
    this.links.clear();
    await ip(['netns', 'del', this.name]).catch(() => undefined);
  }

  private exec(args: readonly string[]): Promise<string> {
    return ip(['-n', this.name, ...args]);
  }
}

function nft(netns: string, rules: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new BgpNamespaceError(`nft in ${netns}: ${err.message}`)));
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new BgpNamespaceError(`nft in ${netns} failed (${code}): ${stderr.trim() || 'is nftables installed? apt-get install nftables'}`));
    });
    child.stdin.end(rules);
  });
}

async function sysctl(netns: string | undefined, key: string, value: string): Promise<void> {
  const argv = ['sysctl', '-qw', `${key}=${value}`];
  await new Promise<void>((resolve, reject) => {
    const [cmd, args] = netns === undefined ? [argv[0]!, argv.slice(1)] : ['ip', ['netns', 'exec', netns, ...argv]];
    execFile(cmd, args, { timeout: 10_000 }, (err, _out, stderr) => {
      if (err !== null) reject(new BgpNamespaceError(`sysctl ${key}=${value}${netns === undefined ? '' : ` in ${netns}`}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/**
 * Routes in gobgpd's namespace to the uplink's multihop peers: through an on-link peer of the same
 * family on that uplink (the upstream router a multihop session normally crosses). A multihop peer
 * with no on-link peer to go through gets no route (the gateway logs its session state).
 */
export function multihopRoutes(u: UplinkConfig): { dst: string; via: string }[] {
  const subnets = u.port.address.flatMap((t) => parseCidr(t) ?? []);
  const onLink = u.peers.filter((p) => {
    const a = parseIp(p.address);
    return a !== undefined && subnets.some((c) => isIp6(c.addr) === isIp6(a) && cidrContains(c, a));
  });
  const out: { dst: string; via: string }[] = [];
  for (const p of u.peers) {
    if (p.multihop === undefined || onLink.includes(p)) continue;
    const a = parseIp(p.address);
    const via = onLink.find((q) => a !== undefined && isIp6(parseIp(q.address)!) === isIp6(a));
    if (a !== undefined && via !== undefined) out.push({ dst: `${p.address}/${isIp6(a) ? 128 : 32}`, via: via.address });
  }
  return out;
}
