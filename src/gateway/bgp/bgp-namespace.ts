// gobgpd's network namespace (DESIGN: BGP; MidoNet's BGP port): one veth per peering uplink, whose
// inner end carries the uplink port's addresses and MAC — so that gobgpd's sessions and the
// kernel's ARP/ND there speak as the uplink — and whose outer end the agent opens as the uplink's
// control port. Created at start (a stale one from a crashed agent is replaced), removed at stop.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { cidrContains, isIp6, parseCidr, parseIp } from '../../agent-core/packet/index.js';
import type { UplinkConfig } from '../config/index.js';

export class BgpNamespaceError extends Error {
  override readonly name = 'BgpNamespaceError';
}

/** The two ends of an uplink's veth. */
export interface ControlLink {
  /** In the root namespace: the agent's control port. */
  readonly outer: string;
  /** In gobgpd's namespace, with the uplink's addresses. */
  readonly inner: string;
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
 * Interface names (at most 15 bytes) from the namespace, host and uplink port: stable across
 * restarts, distinct between agents (and labs) on one machine.
 */
export function controlLinkOf(namespace: string, hostId: string, uplinkPortId: string): ControlLink {
  const h = createHash('sha256').update(`${namespace}\0${hostId}\0${uplinkPortId}`).digest('hex').slice(0, 8);
  return { outer: `tgb${h}`, inner: `tgu${h}` };
}

export class BgpNamespace {
  private readonly links = new Map<string, ControlLink>();

  private constructor(
    readonly name: string,
    private readonly hostId: string,
  ) {}

  /** Creates the namespace, first removing one left by an agent that died. */
  static async create(name: string, hostId: string): Promise<BgpNamespace> {
    const existing = await ip(['netns', 'list']);
    if (existing.split('\n').some((l) => l.split(' ')[0] === name)) await ip(['netns', 'del', name]);
    await ip(['netns', 'add', name]);
    const ns = new BgpNamespace(name, hostId);
    await ns.exec(['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** The uplink's veth with its addresses and MAC inside; returns the ends. Idempotent per uplink. */
  async addUplink(u: UplinkConfig): Promise<ControlLink> {
    const link = controlLinkOf(this.name, this.hostId, u.port.id);
    // A root-namespace end left behind (the namespace was deleted under it) goes first.
    await ip(['link', 'del', link.outer]).catch(() => undefined);
    await ip(['link', 'add', link.outer, 'type', 'veth', 'peer', 'name', link.inner, 'netns', this.name]);
    this.links.set(u.port.id, link);
    const hasV6 = u.port.address.some((a) => a.includes(':'));
    // The outer end is only a datapath port: no addresses, no IPv6 chatter from the root namespace.
    await sysctl(undefined, `net.ipv6.conf.${link.outer}.disable_ipv6`, '1');
    await ip(['link', 'set', link.outer, 'up']);
    if (!hasV6) await sysctl(this.name, `net.ipv6.conf.${link.inner}.disable_ipv6`, '1');
    else {
      // gobgpd's namespace is not a host on the link: no router solicitations, no autoconfiguration.
      await sysctl(this.name, `net.ipv6.conf.${link.inner}.accept_ra`, '0');
      await sysctl(this.name, `net.ipv6.conf.${link.inner}.router_solicitations`, '0');
      await sysctl(this.name, `net.ipv6.conf.${link.inner}.autoconf`, '0');
    }
    await this.exec(['link', 'set', link.inner, 'address', u.port.mac]);
    for (const a of u.port.address) {
      // nodad: the address is the virtual router's, already in use on the link by design.
      await this.exec(['addr', 'add', a, 'dev', link.inner, ...(a.includes(':') ? ['nodad'] : [])]);
    }
    await this.exec(['link', 'set', link.inner, 'up']);
    for (const r of multihopRoutes(u)) await this.exec(['route', 'replace', r.dst, 'via', r.via, 'dev', link.inner]);
    return link;
  }

  async removeUplink(uplinkPortId: string): Promise<void> {
    const link = this.links.get(uplinkPortId);
    if (link === undefined) return;
    this.links.delete(uplinkPortId);
    await ip(['link', 'del', link.outer]).catch(() => undefined);
  }

  uplinks(): string[] {
    return [...this.links.keys()];
  }

  /** Removes the namespace (and with it every inner veth end, which takes the outer ends along). */
  async destroy(): Promise<void> {
    this.links.clear();
    await ip(['netns', 'del', this.name]).catch(() => undefined);
  }

  private exec(args: readonly string[]): Promise<string> {
    return ip(['-n', this.name, ...args]);
  }
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
