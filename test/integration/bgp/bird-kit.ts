// The BGP integration tests' kit: BIRD itself lives with the lab (src/gateway/lab/bird.ts, `tollgate
// lab --bgp` runs it as the upstream router) and is re-exported here; this file adds what only the
// tests need: gobgpd's availability and the namespaces and veth of a gateway–BIRD pair.
// DESIGN: BGP (tests with a real peer of another implementation).
import { existsSync, readFileSync } from 'node:fs';
import { type NetnsLab } from '../../helpers/netns.js';
import { BIRD_BINARY, BIRDC_BINARY } from '../../../src/gateway/lab/bird.js';

export { Bird, BIRD_BINARY, BIRDC_BINARY, FAST_BIRD_TIMERS } from '../../../src/gateway/lab/bird.js';
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
  for (const f of [BIRD_BINARY, BIRDC_BINARY, GOBGPD_BINARY, '/usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto', '/usr/sbin/nft']) {
    if (!existsSync(f)) return `${f} is missing (apt-get install bird2 gobgpd golang-github-osrg-gobgp-dev nftables)`;
  }
  return undefined;
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
