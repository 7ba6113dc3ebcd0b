// The lab's upstream BGP router (`tollgate lab --bgp`, LabWorld.create({ bgp: true })): BIRD in the
// "internet" namespace peering eBGP with both gateways' uplinks, and the gateways' `bgp:` and
// `uplinks:` config sections. DESIGN: BGP, Gateway roles; ASNs from RFC 5398 (documentation).
import { Bird, FAST_BIRD_TIMERS } from './bird.js';
import { LAB } from './lab-topology.js';
import type { NetnsLab } from './netns.js';

export const LAB_BGP = {
  /** BIRD, the upstream router. */
  upstreamAsn: 64496,
  /** Both gateways. */
  gatewayAsn: 64512,
  /** Timers of the gateways' sessions, as BIRD's (FAST_BIRD_TIMERS). */
  holdTime: 9,
  keepalive: 3,
  /** The internet host's IPv6 address (on the internet namespace's loopback, beside LAB.internetHost). */
  internetHostV6: '2001:db8:ffff::77',
} as const;

/** The provider router's static defaults: with an upstream BGP router the default is learned instead. */
export const STATIC_DEFAULT_ROUTE_IDS: readonly string[] = ['provider-default-a', 'provider-default-b', 'provider-default-v6'];

export type LabGateway = 'gwA' | 'gwB';

/** One gateway's side of the upstream: its uplink, BIRD's interface towards it, BIRD's protocols for it. */
export interface LabUplink {
  readonly name: string;
  readonly port: { readonly id: string; readonly addresses: readonly string[]; readonly mac: string };
  /** BIRD's interface in the internet namespace. */
  readonly birdIf: string;
  /** One BGP session per family: BIRD's protocol name, BIRD's address, the gateway's address. */
  readonly sessions: readonly { readonly protocol: string; readonly birdAddress: string; readonly gatewayAddress: string }[];
}

const hostPart = (cidr: string): string => cidr.split('/')[0]!;

export function labUplink(gw: LabGateway, ipv6: boolean): LabUplink {
  if (gw === 'gwA') {
    const v6 = ipv6 ? [{ protocol: 'gw_a6', birdAddress: LAB.uplinkV6.peer, gatewayAddress: hostPart(LAB.uplinkV6.address) }] : [];
    return {
      name: LAB.uplinkA.port,
      port: { id: LAB.uplinkA.port, addresses: [LAB.uplinkA.address, LAB.uplinkV6.address], mac: LAB.uplinkA.mac },
      birdIf: 'upa',
      sessions: [{ protocol: 'gw_a', birdAddress: LAB.uplinkA.peer, gatewayAddress: hostPart(LAB.uplinkA.address) }, ...v6],
    };
  }
  return {
    name: LAB.uplinkB.port,
    port: { id: LAB.uplinkB.port, addresses: [LAB.uplinkB.address], mac: LAB.uplinkB.mac },
    birdIf: 'upb',
    sessions: [{ protocol: 'gw_b', birdAddress: LAB.uplinkB.peer, gatewayAddress: hostPart(LAB.uplinkB.address) }],
  };
}

/**
 * BIRD's config: a default route (and ::/0) announced to each gateway with BIRD as next hop, and
 * what the gateways announce imported into the namespace's kernel table, equal paths merged (ECMP).
 */
export function upstreamBirdConfig(ipv6: boolean): string {
  const sessions = (['gwA', 'gwB'] as const).flatMap((gw) => labUplink(gw, ipv6).sessions);
  const lines = [
    `router id ${LAB.uplinkA.peer};`,
    'protocol device { scan time 1; }',
    // The static defaults exist to be announced; only what BGP learned goes into the kernel.
    'protocol kernel k4 { merge paths on; ipv4 { import none; export where source = RTS_BGP; }; }',
    'protocol static default4 { ipv4; route 0.0.0.0/0 blackhole; }',
  ];
  if (ipv6) {
    lines.push(
      'protocol kernel k6 { merge paths on; ipv6 { import none; export where source = RTS_BGP; }; }',
      'protocol static default6 { ipv6; route ::/0 blackhole; }',
    );
  }
  for (const s of sessions) {
    const family = s.birdAddress.includes(':') ? 'ipv6' : 'ipv4';
    const defaultRoute = family === 'ipv6' ? '::/0' : '0.0.0.0/0';
    lines.push(
      `protocol bgp ${s.protocol} { local ${s.birdAddress} as ${LAB_BGP.upstreamAsn}; neighbor ${s.gatewayAddress} as ${LAB_BGP.gatewayAsn}; ${FAST_BIRD_TIMERS}`,
      `  ${family} { import all; export where net = ${defaultRoute}; }; }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Starts BIRD in the internet namespace (its links to the uplinks must exist). */
export function startUpstreamRouter(lab: NetnsLab, inetNs: string, ipv6: boolean): Promise<Bird> {
  return Bird.start(lab, inetNs, upstreamBirdConfig(ipv6));
}

/** BIRD's BGP protocol names, gateway A's first. */
export function upstreamProtocols(ipv6: boolean): string[] {
  return (['gwA', 'gwB'] as const).flatMap((gw) => labUplink(gw, ipv6).sessions.map((s) => s.protocol));
}

/**
 * A gateway's `bgp:` and `uplinks:` sections (YAML lines): gobgpd in `namespace` with its API on
 * `socket` (both per gateway and per run), peering with BIRD over `ifname`.
 */
export function gatewayBgpYaml(gw: LabGateway, ifname: string, gobgpd: { namespace: string; socket: string }, ipv6: boolean): string[] {
  const u = labUplink(gw, ipv6);
  return [
    'bgp:',
    `  asn: ${LAB_BGP.gatewayAsn}`,
    `  routerId: ${u.sessions[0]!.gatewayAddress}`,
    `  namespace: ${gobgpd.namespace}`,
    '  gobgpd:',
    `    socket: ${gobgpd.socket}`,
    'uplinks:',
    `  - name: ${u.name}`,
    `    interface: ${ifname}`,
    `    router: ${LAB.provider}`,
    '    port:',
    `      id: ${u.port.id}`,
    `      address: [${u.port.addresses.map((a) => JSON.stringify(a)).join(', ')}]`,
    `      mac: "${u.port.mac}"`,
    `    ingressSet: ${LAB.ingressSet}`,
    '    peers:',
    ...u.sessions.flatMap((s) => [
      `      - address: "${s.birdAddress}"`,
      `        asn: ${LAB_BGP.upstreamAsn}`,
      `        holdTime: ${LAB_BGP.holdTime}`,
      `        keepalive: ${LAB_BGP.keepalive}`,
    ]),
  ];
}
