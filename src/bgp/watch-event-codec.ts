// A direct protobuf wire decoder for gobgpd's WatchEventResponse table events: reads only what
// the importer needs of each Path (NLRI prefix, next hop, withdrawal, family, peer) straight from
// the bytes. proto-loader's generic decoding unpacks every google.protobuf.Any by reflection and
// cost ~40 µs a path here (4 s for a 100k table); this costs ~3.5 µs. Peer events (rare) are left
// to proto-loader. Pure. Wire format: protobuf encoding; messages: api/gobgp.proto, attribute.proto.
import type { BgpFamily } from './config.js';
import type { WatchedPath } from './api-paths.js';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

// Field numbers (gobgp.proto / attribute.proto, GoBGP 3.x).
const RESPONSE_TABLE = 3;
const TABLE_PATHS = 2;
const PATH_NLRI = 1;
const PATH_PATTRS = 2;
const PATH_IS_WITHDRAW = 5;
const PATH_FAMILY = 9;
const PATH_NEIGHBOR_IP = 15;
const ANY_TYPE_URL = 1;
const ANY_VALUE = 2;
const FAMILY_AFI = 1;
const FAMILY_SAFI = 2;
const PREFIX_LEN = 1;
const PREFIX_TEXT = 2;
const NEXT_HOP_TEXT = 1;
const MP_REACH_NEXT_HOPS = 2;

const AFI_IP = 1;
const AFI_IP6 = 2;
const SAFI_UNICAST = 1;

// Any type URLs, matched as bytes (no string per attribute).
const TYPE_OTHER = 0;
const TYPE_PREFIX = 1;
const TYPE_NEXT_HOP = 2;
const TYPE_MP_REACH = 3;
const TYPE_URLS: readonly [number, Uint8Array][] = [
  [TYPE_PREFIX, Buffer.from('type.googleapis.com/apipb.IPAddressPrefix', 'latin1')],
  [TYPE_NEXT_HOP, Buffer.from('type.googleapis.com/apipb.NextHopAttribute', 'latin1')],
  [TYPE_MP_REACH, Buffer.from('type.googleapis.com/apipb.MpReachNLRIAttribute', 'latin1')],
];

export interface DecodedTableEvent {
  readonly paths: WatchedPath[];
  /** Paths of other families or NLRI types, not imported. */
  readonly skipped: number;
}

export class WireDecodeError extends Error {
  override readonly name = 'WireDecodeError';
}

/** The paths of a table event (undefined if the message is not one). Throws WireDecodeError on bad bytes. */
export function decodeTableEvent(buf: Uint8Array): DecodedTableEvent | undefined {
  const r = new Reader(buf, 0, buf.length);
  let out: DecodedTableEvent | undefined;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field !== RESPONSE_TABLE || wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    out ??= { paths: [], skipped: 0 };
    const t = r.sub();
    while (t.more()) {
      const [tf, tw] = t.tag();
      if (tf !== TABLE_PATHS || tw !== WIRE_LEN) {
        t.skip(tw);
        continue;
      }
      const p = readPath(t.sub());
      if (p === undefined) (out as { skipped: number }).skipped++;
      else out.paths.push(p);
    }
  }
  return out;
}

function readPath(r: Reader): WatchedPath | undefined {
  let afi = 0;
  let safi = 0;
  let withdraw = false;
  let peer = '';
  let prefix: string | undefined;
  let nextHop: string | undefined;
  let notPrefix = false;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field === PATH_NLRI && wire === WIRE_LEN) {
      const nlri = readAny(r.sub());
      if (nlri.type === TYPE_PREFIX) prefix = readPrefix(nlri.value);
      else notPrefix = true;
    } else if (field === PATH_PATTRS && wire === WIRE_LEN) {
      const attr = readAny(r.sub());
      if (attr.type === TYPE_NEXT_HOP) nextHop = readNextHop(attr.value);
      else if (attr.type === TYPE_MP_REACH) nextHop = readMpReachNextHop(attr.value);
    } else if (field === PATH_IS_WITHDRAW && wire === WIRE_VARINT) {
      withdraw = r.varint() !== 0;
    } else if (field === PATH_FAMILY && wire === WIRE_LEN) {
      const f = r.sub();
      while (f.more()) {
        const [ff, fw] = f.tag();
        if (ff === FAMILY_AFI && fw === WIRE_VARINT) afi = f.varint();
        else if (ff === FAMILY_SAFI && fw === WIRE_VARINT) safi = f.varint();
        else f.skip(fw);
      }
    } else if (field === PATH_NEIGHBOR_IP && wire === WIRE_LEN) {
      peer = r.text();
    } else r.skip(wire);
  }
  const family: BgpFamily | undefined = safi !== SAFI_UNICAST ? undefined : afi === AFI_IP ? 'ipv4' : afi === AFI_IP6 ? 'ipv6' : undefined;
  if (family === undefined || notPrefix || prefix === undefined) return undefined;
  return { family, prefix, withdraw, peer, nextHop };
}

function readAny(r: Reader): { type: number; value: Reader } {
  let type = TYPE_OTHER;
  let value: Reader | undefined;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field === ANY_TYPE_URL && wire === WIRE_LEN) type = r.typeUrl();
    else if (field === ANY_VALUE && wire === WIRE_LEN) value = r.sub();
    else r.skip(wire);
  }
  // An Any with an empty value is a message with every field at its default.
  return { type, value: value ?? new Reader(new Uint8Array(0), 0, 0) };
}

function readPrefix(r: Reader): string | undefined {
  let len = 0;
  let text: string | undefined;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field === PREFIX_LEN && wire === WIRE_VARINT) len = r.varint();
    else if (field === PREFIX_TEXT && wire === WIRE_LEN) text = r.text();
    else r.skip(wire);
  }
  return text === undefined ? undefined : `${text}/${len}`;
}

function readNextHop(r: Reader): string | undefined {
  let hop: string | undefined;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field === NEXT_HOP_TEXT && wire === WIRE_LEN) hop = r.text();
    else r.skip(wire);
  }
  return hop;
}

/** The first global next hop; a link-local one only when there is nothing else (as readWatchedPath). */
function readMpReachNextHop(r: Reader): string | undefined {
  let first: string | undefined;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field === MP_REACH_NEXT_HOPS && wire === WIRE_LEN) {
      const hop = r.text();
      if (hop === '') continue;
      if (!hop.toLowerCase().startsWith('fe80:')) return hop;
      first ??= hop;
    } else r.skip(wire);
  }
  return first;
}

/** A cursor over [pos, end) of a buffer. */
class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly end: number,
  ) {}

  more(): boolean {
    return this.pos < this.end;
  }

  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  /** Unsigned varint as a number (exact up to 2^53; field values here are 32-bit). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireDecodeError('truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new WireDecodeError('varint longer than 10 bytes');
  }

  sub(): Reader {
    const len = this.varint();
    if (len > this.end - this.pos) throw new WireDecodeError(`field of ${len} bytes past the end of its message`);
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  text(): string {
    const len = this.varint();
    if (len > this.end - this.pos) throw new WireDecodeError(`string of ${len} bytes past the end of its message`);
    // Addresses are ASCII; latin1 is the cheapest exact decoding of ASCII.
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('latin1');
    this.pos += len;
    return s;
  }

  /** Which known Any type URL the next string field holds. */
  typeUrl(): number {
    const len = this.varint();
    if (len > this.end - this.pos) throw new WireDecodeError(`string of ${len} bytes past the end of its message`);
    const start = this.pos;
    this.pos += len;
    next: for (const [type, url] of TYPE_URLS) {
      if (url.length !== len) continue;
      // Compare from the end: the URLs share their first 26 bytes.
      for (let i = len - 1; i >= 0; i--) if (this.buf[start + i] !== url[i]) continue next;
      return type;
    }
    return TYPE_OTHER;
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.advance(this.varint());
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        throw new WireDecodeError(`unsupported wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireDecodeError('field past the end of its message');
    this.pos += n;
  }
}
