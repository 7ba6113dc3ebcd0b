// Config rules a JSON schema cannot state: duplicates, exclusive fields, BGP timers (RFC 4271 4.2),
// peers on the uplink's subnets, families, tokens off loopback (DESIGN: Interfaces for people).
// Runs on schema-defaulted data that may still be ill-typed: every read checks its type.
import { cidrContains, parseCidr, parseIp } from '../../agent-core/packet/index.js';
import { addressFamily, isLoopback, networkOf, parseHostPort } from './formats.js';
import { formatPath, type FieldProblem, type PathSegment } from './problems.js';


type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
/** A canonical key for an address so that 2001:db8::1 and 2001:DB8:0::1 compare equal. */
const ipKey = (text: string | undefined): string | undefined => {
  const a = text === undefined ? undefined : parseIp(text);
  return a === undefined ? undefined : `${typeof a}:${a.toString()}`;
};

export function checkConfigRules(data: unknown): FieldProblem[] {
  const root = obj(data);
  if (root === undefined) return [];
  const out: FieldProblem[] = [];
  checkFlowState(obj(root.flowState), out);
  checkApi(obj(root.api), out);
  checkTunnel(obj(root.host), obj(root.tunnel), out);
  checkPortsAndInterfaces(list(root.bindings), list(root.uplinks), out);
  // A bgp that is present but ill-typed is the schema's to report.
  checkUplinks(list(root.uplinks), root.bgp !== undefined, out);
  return out;
}

function checkFlowState(fs: Obj | undefined, out: FieldProblem[]): void {
  if (fs?.clusterKey !== undefined && fs.clusterKeyFile !== undefined) {
    out.push({ path: ['flowState', 'clusterKeyFile'], anchor: 'key', message: 'clusterKey and clusterKeyFile exclude each other: give one' });
  }
}

function checkApi(api: Obj | undefined, out: FieldProblem[]): void {
  const listen = str(api?.listen);
  const hp = listen === undefined ? undefined : parseHostPort(listen);
  if (hp !== undefined && !isLoopback(hp.host) && api?.token === undefined) {
    out.push({ path: ['api', 'token'], anchor: 'key', message: `required when api.listen (${listen}) is not a loopback address` });
  }
}

function checkTunnel(host: Obj | undefined, tunnel: Obj | undefined, out: FieldProblem[]): void {
  const tunnelIp = str(host?.tunnelIp);
  const bind = str(tunnel?.bindAddress);
  const ipFamily = tunnelIp === undefined ? undefined : addressFamily(tunnelIp);
  const bindFamily = bind === undefined ? undefined : addressFamily(bind);
  if (ipFamily !== undefined && bindFamily !== undefined && ipFamily !== bindFamily) {
    out.push({ path: ['tunnel', 'bindAddress'], anchor: 'value', message: `is ${bindFamily} but host.tunnelIp (${tunnelIp}) is ${ipFamily}: the tunnel socket could not receive from it` });
  }
}

/** Each virtual port is bound once and each host interface (per namespace) is used once. */
function checkPortsAndInterfaces(bindings: unknown[], uplinks: unknown[], out: FieldProblem[]): void {
  const portOwner = new Map<string, string>();
  const ifOwner = new Map<string, string>();
  const claim = (owners: Map<string, string>, key: string | undefined, owner: string, path: PathSegment[], what: string): void => {
    if (key === undefined) return;
    const first = owners.get(key);
    if (first === undefined) owners.set(key, owner);
    else out.push({ path, anchor: 'value', message: `${what} is already used by ${first}` });
  };
  const ifKey = (o: Obj): string | undefined => {
    const name = str(o.interface);
    return name === undefined ? undefined : `${str(o.netns) ?? ''}\u0000${name}`;
  };
  const ifWhat = (o: Obj): string => `interface '${String(o.interface)}'${o.netns === undefined ? '' : ` in netns '${String(o.netns)}'`}`;
  bindings.forEach((b, i) => {
    const o = obj(b);
    if (o === undefined) return;
    claim(portOwner, str(o.port), formatPath(['bindings', i]), ['bindings', i, 'port'], `port '${String(o.port)}'`);
    claim(ifOwner, ifKey(o), formatPath(['bindings', i]), ['bindings', i, 'interface'], ifWhat(o));
  });
  uplinks.forEach((u, i) => {
    const o = obj(u);
    if (o === undefined) return;
    const portId = str(obj(o.port)?.id);
    claim(portOwner, portId, formatPath(['uplinks', i]), ['uplinks', i, 'port', 'id'], `port '${String(portId)}'`);
    claim(ifOwner, ifKey(o), formatPath(['uplinks', i]), ['uplinks', i, 'interface'], ifWhat(o));
  });
}

function checkUplinks(uplinks: unknown[], haveBgp: boolean, out: FieldProblem[]): void {
  const names = new Map<string, number>();
  // gobgpd keys neighbours by address: one address can be one peer only, across all uplinks.
  const peerOwner = new Map<string, string>();
  let bgpReported = false;
  uplinks.forEach((u, i) => {
    const uplink = obj(u);
    if (uplink === undefined) return;
    const name = str(uplink.name);
    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else out.push({ path: ['uplinks', i, 'name'], anchor: 'value', message: `duplicate uplink name '${name}' (also uplinks[${first}])` });
    }
    list(uplink.advertise).forEach((p, j) => {
      const net = typeof p === 'string' ? networkOf(p) : undefined;
      if (net?.hasHostBits === true) {
        out.push({ path: ['uplinks', i, 'advertise', j], anchor: 'value', message: `prefix ${String(p)} has host bits set (did you mean ${net.network}?)` });
      }
    });
    const peers = list(uplink.peers);
    if (peers.length > 0 && !haveBgp && !bgpReported) {
      bgpReported = true;
      out.push({ path: ['bgp'], at: ['uplinks', i, 'peers'], anchor: 'key', message: `section required because uplinks[${i}] has BGP peers (give asn and routerId)` });
    }
    const portPath = formatPath(['uplinks', i, 'port', 'address']);
    const addresses = ([] as unknown[]).concat(obj(uplink.port)?.address ?? []).filter((a): a is string => typeof a === 'string');
    const subnets = addresses.map(parseCidr).filter((c) => c !== undefined);
    peers.forEach((p, j) => checkPeer(obj(p), ['uplinks', i, 'peers', j], { addresses, subnets, portPath, peerOwner }, out));
  });
}

interface UplinkContext {
  readonly addresses: readonly string[];
  readonly subnets: readonly NonNullable<ReturnType<typeof parseCidr>>[];
  readonly portPath: string;
  readonly peerOwner: Map<string, string>;
}

function checkPeer(peer: Obj | undefined, path: PathSegment[], ctx: UplinkContext, out: FieldProblem[]): void {
  if (peer === undefined) return;
  const address = str(peer.address);
  const key = ipKey(address);
  if (key !== undefined) {
    const first = ctx.peerOwner.get(key);
    if (first === undefined) ctx.peerOwner.set(key, formatPath(path));
    else out.push({ path: [...path, 'address'], anchor: 'value', message: `peer ${address} is already configured at ${first}` });
  }
  const family = address === undefined ? undefined : addressFamily(address);
  const families = peer.families === undefined ? undefined : list(peer.families);
  if (family !== undefined && families !== undefined && families.every((f) => typeof f === 'string') && !families.includes(family)) {
    out.push({ path: [...path, 'families'], anchor: 'value', message: `must include ${family}, the family of the peer address ${address}` });
  }
  checkTimers(peer, path, out);
  const ip = address === undefined ? undefined : parseIp(address);
  if (ip === undefined || ctx.subnets.length === 0) return;
  if (ctx.subnets.some((c) => c.addr === ip)) {
    out.push({ path: [...path, 'address'], anchor: 'value', message: `${address} is the uplink port's own address (${ctx.portPath})` });
  } else if (peer.multihop === undefined && !ctx.subnets.some((c) => cidrContains(c, ip))) {
    out.push({
      path: [...path, 'address'],
      anchor: 'value',
      message: `peer ${address} is not on the uplink port's subnets (${ctx.portPath}: ${ctx.addresses.join(', ')}); set multihop for a peer that is not directly connected`,
    });
  }
}

/** RFC 4271 4.2: hold time 0 means no keepalives; otherwise keepalives come more often than the hold time. */
function checkTimers(peer: Obj, path: PathSegment[], out: FieldProblem[]): void {
  const hold = int(peer.holdTime);
  const keepalive = int(peer.keepalive);
  if (hold === undefined || keepalive === undefined) return;
  if (hold === 0 && keepalive !== 0) {
    out.push({ path: [...path, 'keepalive'], anchor: 'value', message: `must be 0 when holdTime is 0 (no keepalives) (got ${keepalive})` });
  } else if (hold > 0 && keepalive >= hold) {
    out.push({ path: [...path, 'keepalive'], anchor: 'value', message: `must be less than holdTime (${hold}) (got ${keepalive})` });
  } else if (hold > 0 && keepalive === 0) {
    out.push({ path: [...path, 'keepalive'], anchor: 'value', message: `must be at least 1 when holdTime is ${hold} (got 0)` });
  }
}
