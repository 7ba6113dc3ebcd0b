// Validation of a rule's condition: every field's value and range, invert flags, and references to
// ports and port groups. DESIGN: Virtual topology (Chain / Rule / Condition).
import {
  asArray,
  checkCidr,
  checkEnum,
  checkInt,
  checkMac,
  checkNoDuplicates,
  checkRef,
  show,
  type IssueSink,
} from './validate-common.js';
import type { Condition, Id, TopologyView } from './types.js';

const L4_PORT_MAX = 65535;
const CONN_STATES = ['forward', 'return'] as const;
const FRAGMENT_POLICIES = ['any', 'unfragmented', 'header', 'nonheader'] as const;

/** The fields that are always { value, invert } (connState and fragments may also be a bare value). */
const INVERTIBLE_FIELDS = [
  'inPorts',
  'outPorts',
  'inPortGroup',
  'outPortGroup',
  'ethType',
  'ethSrc',
  'ethDst',
  'vlanId',
  'nwSrc',
  'nwDst',
  'nwProto',
  'nwTos',
  'tpSrc',
  'tpDst',
  'icmpType',
  'icmpCode',
] as const satisfies readonly (keyof Condition)[];
type InvertibleField = (typeof INVERTIBLE_FIELDS)[number];

/**
 * connState and fragments: a bare value, or { value, invert } like the other fields. Returns the
 * { value, invert } form when its shape is right (the value may still be refused).
 */
function checkEnumField(sink: IssueSink, f: string, raw: unknown, allowed: readonly string[]): { value: unknown; invert?: unknown } | undefined {
  if (typeof raw === 'string') {
    checkEnum(sink, f, raw, allowed);
    return { value: raw };
  }
  if (typeof raw !== 'object' || raw === null || (raw as { value?: unknown }).value === undefined) {
    sink.add(f, `${show(raw)} is not one of ${allowed.join(', ')}, nor { value, invert } with one of them`);
    return undefined;
  }
  const holder = raw as { value: unknown; invert?: unknown };
  checkEnum(sink, `${f}.value`, holder.value, allowed);
  if (holder.invert !== undefined && typeof holder.invert !== 'boolean') sink.add(`${f}.invert`, `${show(holder.invert)} is not true or false`);
  return holder;
}

export function validateCondition(c: Condition, view: TopologyView | undefined, sink: IssueSink): void {
  let present = 0;
  for (const name of INVERTIBLE_FIELDS) {
    const raw: unknown = c[name];
    if (raw === undefined) continue;
    present++;
    const f = `condition.${name}`;
    const holder = (typeof raw === 'object' && raw !== null ? raw : {}) as { value?: unknown; invert?: unknown };
    if (holder.value === undefined || holder.value === null) {
      if (holder.invert === true) sink.add(`${f}.invert`, `is set but ${f} has no value to negate`);
      else sink.add(f, `${show(raw)} has no value`);
      continue;
    }
    if (holder.invert !== undefined && typeof holder.invert !== 'boolean') {
      sink.add(`${f}.invert`, `${show(holder.invert)} is not true or false`);
    }
    checkValue(name, `${f}.value`, holder.value, view, sink);
  }
  if (c.connState !== undefined) {
    present++;
    checkEnumField(sink, 'condition.connState', c.connState, CONN_STATES);
  }
  if (c.fragments !== undefined) {
    present++;
    const f = checkEnumField(sink, 'condition.fragments', c.fragments, FRAGMENT_POLICIES);
    if (f?.value === 'any' && f.invert === true) sink.add('condition.fragments.invert', "is set on 'any': it would match nothing");
  }
  if (c.invert === true && present === 0) {
    sink.add('condition.invert', 'is set but the condition has no fields to negate; it would match nothing');
  }
}

function checkValue(name: InvertibleField, f: string, value: unknown, view: TopologyView | undefined, sink: IssueSink): void {
  switch (name) {
    case 'inPorts':
    case 'outPorts':
      checkPortList(f, value, view, sink);
      return;
    case 'inPortGroup':
    case 'outPortGroup':
      checkRef(sink, f, value, 'port group', view === undefined ? undefined : (id: Id) => view.portGroup(id));
      return;
    case 'ethType':
      checkInt(sink, f, value, 0, 0xffff);
      return;
    case 'ethSrc':
    case 'ethDst':
      checkMac(sink, f, value);
      return;
    case 'vlanId':
      checkInt(sink, f, value, 0, 4095);
      return;
    case 'nwSrc':
    case 'nwDst':
      checkCidr(sink, f, value);
      return;
    case 'nwProto':
    case 'nwTos':
    case 'icmpType':
    case 'icmpCode':
      checkInt(sink, f, value, 0, 255);
      return;
    case 'tpSrc':
    case 'tpDst':
      checkPortRange(f, value, sink);
      return;
  }
}

function checkPortList(f: string, value: unknown, view: TopologyView | undefined, sink: IssueSink): void {
  const ids = asArray(value);
  if (ids === undefined) {
    sink.add(f, `${show(value)} is not a list of port ids`);
    return;
  }
  if (ids.length === 0) sink.add(f, 'is empty; list at least one port or leave the field out');
  checkNoDuplicates(sink, f, ids);
  const lookup = view === undefined ? undefined : (id: Id) => view.port(id);
  ids.forEach((id, i) => checkRef(sink, `${f}[${i}]`, id, 'port', lookup));
}

function checkPortRange(f: string, value: unknown, sink: IssueSink): void {
  const range = (typeof value === 'object' && value !== null ? value : {}) as { start?: unknown; end?: unknown };
  const start = checkInt(sink, `${f}.start`, range.start, 0, L4_PORT_MAX);
  const end = checkInt(sink, `${f}.end`, range.end, 0, L4_PORT_MAX);
  if (start !== undefined && end !== undefined && start > end) {
    sink.add(f, `is an empty port range: start ${start} is above end ${end}`);
  }
}
