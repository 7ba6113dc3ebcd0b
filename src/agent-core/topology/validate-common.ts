// The shape of a validation issue and the field checkers every object validator shares (addresses,
// integer ranges, references). Pure: issues are collected as values, nothing throws. DESIGN: Virtual topology.
import { isIp6, isMulticastMac, parseCidr, parseIp, parseMac, type Cidr, type IpAddr, type Mac } from '../packet/addr.js';
import { OBJECT_TYPE_LABEL } from './object-type.js';
import type { Id, TopologyObjectType } from './types.js';

/** One problem with one field of one object; `message` is a whole sentence naming both. */
export interface ValidationIssue {
  /** 'unknown' for an object whose `type` names no topology object type. */
  readonly objectType: TopologyObjectType | 'unknown';
  readonly id: Id;
  /** Path of the field inside the object: "addresses[0]", "condition.nwSrc.value", "targets[1].portTo". */
  readonly field: string;
  readonly message: string;
}

/** Collects the issues of one object; every message starts "<type> <id>: <field> ...". */
export class IssueSink {
  readonly issues: ValidationIssue[] = [];
  private readonly prefix: string;

  constructor(
    readonly objectType: TopologyObjectType | 'unknown',
    readonly id: Id,
  ) {
    this.prefix = `${objectType === 'unknown' ? 'object' : OBJECT_TYPE_LABEL[objectType]} ${typeof id === 'string' && id !== '' ? id : show(id)}`;
  }

  /** Adds "<type> <id>: <field> <rest>". */
  add(field: string, rest: string): void {
    this.issues.push({ objectType: this.objectType, id: this.id, field, message: `${this.prefix}: ${field} ${rest}` });
  }
}

/** A value as people read it in a message: text quoted, numbers bare, absent as "missing". */
export function show(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return JSON.stringify(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** An id or name from another object for a message: bare when it is text, else as show() gives it. */
export function text(value: unknown): string {
  return typeof value === 'string' ? value : show(value);
}

export function familyName(a: IpAddr): string {
  return isIp6(a) ? 'IPv6' : 'IPv4';
}

export function checkId(sink: IssueSink, value: unknown): void {
  if (typeof value !== 'string' || value === '') sink.add('id', `${show(value)} is not a valid id (a non-empty string)`);
}

export function checkCidr(sink: IssueSink, field: string, value: unknown): Cidr | undefined {
  if (typeof value === 'string') {
    const cidr = parseCidr(value);
    if (cidr !== undefined) return cidr;
    const slash = value.indexOf('/');
    if (slash < 0) {
      sink.add(field, `${show(value)} is not a valid CIDR: the /prefix-length is missing`);
      return undefined;
    }
    const addr = parseIp(value.slice(0, slash));
    const len = value.slice(slash + 1);
    if (addr !== undefined && /^\d+$/.test(len)) {
      const max = isIp6(addr) ? 128 : 32;
      sink.add(field, `${show(value)} is not a valid CIDR: prefix length ${Number(len)} is outside 0..${max} for ${familyName(addr)}`);
      return undefined;
    }
  }
  sink.add(field, `${show(value)} is not a valid CIDR`);
  return undefined;
}

export function checkIp(sink: IssueSink, field: string, value: unknown): IpAddr | undefined {
  const addr = typeof value === 'string' ? parseIp(value) : undefined;
  if (addr === undefined) sink.add(field, `${show(value)} is not a valid IP address`);
  return addr;
}

/** A MAC for a port or an ARP entry: must parse and be unicast (a multicast source is meaningless). */
export function checkUnicastMac(sink: IssueSink, field: string, value: unknown): Mac | undefined {
  const mac = checkMac(sink, field, value);
  if (mac !== undefined && isMulticastMac(mac)) {
    sink.add(field, `${show(value)} is a multicast/broadcast MAC; a unicast one is needed`);
    return undefined;
  }
  return mac;
}

export function checkMac(sink: IssueSink, field: string, value: unknown): Mac | undefined {
  const mac = typeof value === 'string' ? parseMac(value) : undefined;
  if (mac === undefined) {
    sink.add(field, `${show(value)} is not a valid MAC address (expected six hex pairs, e.g. "02:00:00:00:00:01")`);
  }
  return mac;
}

/** An integer in lo..hi inclusive; returns it when valid. */
export function checkInt(sink: IssueSink, field: string, value: unknown, lo: number, hi: number): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    sink.add(field, `${show(value)} is not an integer`);
    return undefined;
  }
  if (value < lo || value > hi) {
    sink.add(field, `${value} is outside ${lo}..${hi}`);
    return undefined;
  }
  return value;
}

export function checkEnum(sink: IssueSink, field: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    sink.add(field, `${show(value)} is not one of ${allowed.join(', ')}`);
  }
}

/**
 * A reference to another object. With `lookup` (a view is at hand) the target must exist; without
 * it only the id's shape is checked.
 */
export function checkRef(
  sink: IssueSink,
  field: string,
  value: unknown,
  what: string,
  lookup: ((id: Id) => unknown) | undefined,
): boolean {
  if (typeof value !== 'string' || value === '') {
    sink.add(field, `${show(value)} is not a valid id`);
    return false;
  }
  if (lookup !== undefined && lookup(value) === undefined) {
    sink.add(field, `${show(value)} names no ${what}`);
    return false;
  }
  return true;
}

/** Reports ids listed twice in one list field. */
export function checkNoDuplicates(sink: IssueSink, field: string, values: readonly unknown[]): void {
  const seen = new Set<unknown>();
  values.forEach((v, i) => {
    if (seen.has(v)) sink.add(`${field}[${i}]`, `${show(v)} is listed twice`);
    seen.add(v);
  });
}

/** Reads a field that may be absent; arrays from JSON can be anything, so this narrows to an array. */
export function asArray(value: unknown): readonly unknown[] | undefined {
  return Array.isArray(value) ? (value as readonly unknown[]) : undefined;
}
