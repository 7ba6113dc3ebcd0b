// Validation of routes (prefixes, next hops, gateways, weights, advertise) and port groups.
// DESIGN: Virtual topology (Router routes, Port group / ingress set).
import { formatCidr, isIp6, maskIp, type Cidr } from '../packet/addr.js';
import {
  asArray,
  checkCidr,
  checkEnum,
  checkIp,
  checkNoDuplicates,
  checkRef,
  familyName,
  show,
  text,
  type IssueSink,
} from './validate-common.js';
import type { Id, PortGroup, Route, TopologyView } from './types.js';

const NEXT_HOPS = ['port', 'blackhole', 'reject'] as const;
const ORIGINS = ['static', 'bgp'] as const;

export function validateRoute(r: Route, view: TopologyView | undefined, sink: IssueSink): void {
  checkRef(sink, 'routerId', r.routerId, 'router', view === undefined ? undefined : (id: Id) => view.router(id));
  const dst = checkPrefix(sink, 'dst', r.dst);
  const src = r.src === undefined ? undefined : checkPrefix(sink, 'src', r.src);
  if (dst !== undefined && src !== undefined && isIp6(dst.addr) !== isIp6(src.addr)) {
    sink.add('src', `${show(r.src)} is ${familyName(src.addr)} but dst ${show(r.dst)} is ${familyName(dst.addr)}`);
  }
  checkEnum(sink, 'nextHop', r.nextHop, NEXT_HOPS);
  checkEnum(sink, 'origin', r.origin, ORIGINS);
  if (r.nextHop === 'port') checkEgressPort(r, view, sink);
  if (r.gateway !== undefined) {
    const gw = checkIp(sink, 'gateway', r.gateway);
    if (gw !== undefined && dst !== undefined && isIp6(gw) !== isIp6(dst.addr)) {
      sink.add('gateway', `${show(r.gateway)} is ${familyName(gw)} but dst ${show(r.dst)} is ${familyName(dst.addr)}`);
    }
  }
  if (typeof r.weight !== 'number' || !Number.isFinite(r.weight)) sink.add('weight', `${show(r.weight)} is not a number`);
  else if (r.weight < 0) sink.add('weight', `${r.weight} is negative; weights are 0 or more (lower wins)`);
  checkAdvertise(r, sink);
}

/** Only routes this network owns are announced: re-announcing a learned (bgp) route would echo it upstream. */
function checkAdvertise(r: Route, sink: IssueSink): void {
  if (r.advertise === undefined) return;
  if (typeof r.advertise !== 'boolean') {
    sink.add('advertise', `${show(r.advertise)} is not true or false`);
    return;
  }
  if (r.advertise && r.origin === 'bgp') {
    sink.add('advertise', 'is true on a route learned over BGP (origin "bgp"); only static routes are announced');
  }
}

/** A route prefix: a valid CIDR with no host bits, so that the stored text is the prefix it matches. */
function checkPrefix(sink: IssueSink, field: string, text: unknown): Cidr | undefined {
  const cidr = checkCidr(sink, field, text);
  if (cidr === undefined) return undefined;
  const net = maskIp(cidr.addr, cidr.len);
  if (net !== cidr.addr) {
    sink.add(field, `${show(text)} has host bits set; did you mean "${formatCidr({ addr: net, len: cidr.len })}"?`);
    return undefined;
  }
  return cidr;
}

function checkEgressPort(r: Route, view: TopologyView | undefined, sink: IssueSink): void {
  if (r.egressPortId === undefined) {
    sink.add('egressPortId', 'is missing; a route with nextHop "port" needs its egress port');
    return;
  }
  if (!checkRef(sink, 'egressPortId', r.egressPortId, 'port', view === undefined ? undefined : (id: Id) => view.port(id))) return;
  const port = view?.port(r.egressPortId);
  if (port !== undefined && (port.deviceId !== r.routerId || port.deviceType !== 'router')) {
    sink.add('egressPortId', `${show(r.egressPortId)} is a port of ${text(port.deviceType)} ${text(port.deviceId)}, not of router ${text(r.routerId)}`);
  }
}

export function validatePortGroup(g: PortGroup, view: TopologyView | undefined, sink: IssueSink): void {
  if (typeof g.stateful !== 'boolean') sink.add('stateful', `${show(g.stateful)} is not true or false`);
  const ids = asArray(g.portIds);
  if (ids === undefined) {
    sink.add('portIds', `${show(g.portIds)} is not a list`);
    return;
  }
  checkNoDuplicates(sink, 'portIds', ids);
  const lookup = view === undefined ? undefined : (id: Id) => view.port(id);
  ids.forEach((id, i) => checkRef(sink, `portIds[${i}]`, id, 'port', lookup));
}
