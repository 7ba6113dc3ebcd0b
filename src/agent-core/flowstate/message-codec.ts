// Wire codec of flow-state messages (DESIGN: Flow state, Push; Tunnels: key 0xFFFFFF): versioned
// STATE and ACK messages, optionally tagged, carried as the payload of a VXLAN frame (RFC 7348 5):
// a datagram is the VXLAN header + message (own UDP socket); a tunnel port carries the message alone.
//
// Layout (big endian; str8 = 1-byte length + UTF-8, str16 = 2-byte length + UTF-8):
//   magic u32 "TGFS" | version u8 | type u8 | flags u8 | reserved u8 | epoch u32 | sender str8
//   STATE: seq u32 | ingress str8 | egressCount u8 | egress str8* | entryCount u16 | entry*
//     entry: kind u8 | lifetimeMs u32 | key str16
//            nat only: family u8 (4|6) | ip 4|16 | port u16 | device str8 | leasedFamily u8 (0|4|6) | ip 0|4|16
//   ACK:   ackedSender str8 | ackedEpoch u32 | seqCount u16 | seq u32*
//   tag (16 bytes) when flags has FLAG_TAG: HMAC over every byte before it.
import { type IpAddr, TUNNEL_KEY_FLOW_STATE, VXLAN_HEADER_LEN, decodeVxlan, isDecodeError, isIp6, readIp6Addr, writeIp6Addr, writeVxlan } from '../packet/index.js';
import { ByteReader, ByteWriter, utf8Length } from './byte-io.js';
import {
  type AckMessage, EntryKind, FIXED_HEADER_LEN, FLAG_TAG, FLOWSTATE_MAGIC, FLOWSTATE_VERSION, type FlowStateDecodeError,
  FlowStateDecodeReason as R, type FlowStateEncodeError, FlowStateEncodeReason as E, type FlowStateEntry,
  type FlowStateMessage, MAX_ACK_SEQS, MAX_EGRESS_PORTS, MAX_ENTRIES_PER_MESSAGE, MAX_ID_BYTES, MAX_KEY_BYTES,
  type MessageAuthenticator, MessageType, type StateMessage, TAG_LEN, flowStateDecodeError, flowStateEncodeError,
} from './message-types.js';

const MAX_U32 = 0xffffffff;
const MAX_IP6 = (1n << 128n) - 1n;

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= MAX_U32;
}

function isIpValue(a: IpAddr): boolean {
  return isIp6(a) ? a >= 0n && a <= MAX_IP6 : isU32(a);
}

/** Writes a length-prefixed string; an error if it is out of [min, max] bytes or not well formed. */
function writeStr(w: ByteWriter, s: string, min: number, max: number, prefix: 1 | 2, field: string): FlowStateEncodeError | undefined {
  const len = utf8Length(s);
  if (len < 0) return flowStateEncodeError(E.BadString, field);
  if (len < min || len > max) return flowStateEncodeError(E.BadString, field);
  if (prefix === 1) w.u8(len);
  else w.u16(len);
  w.utf8(s, len);
  return undefined;
}

function writeIp(w: ByteWriter, a: IpAddr): void {
  if (isIp6(a)) {
    const b = new Uint8Array(16);
    writeIp6Addr(b, 0, a);
    w.bytes(b);
  } else {
    w.u32(a);
  }
}

function writeEntry(w: ByteWriter, e: FlowStateEntry, i: number): FlowStateEncodeError | undefined {
  if (!isU32(e.lifetimeMs)) return flowStateEncodeError(E.BadNumber, `entries[${i}].lifetimeMs`);
  w.u8(e.kind === 'conntrack' ? EntryKind.Conntrack : EntryKind.Nat);
  w.u32(e.lifetimeMs);
  const bad = writeStr(w, e.key, 1, MAX_KEY_BYTES, 2, `entries[${i}].key`);
  if (bad !== undefined || e.kind === 'conntrack') return bad;
  if (!isIpValue(e.binding.ip)) return flowStateEncodeError(E.BadAddress, `entries[${i}].binding.ip`);
  if (!Number.isInteger(e.binding.port) || e.binding.port < 0 || e.binding.port > 0xffff) {
    return flowStateEncodeError(E.BadNumber, `entries[${i}].binding.port`);
  }
  w.u8(isIp6(e.binding.ip) ? 6 : 4);
  writeIp(w, e.binding.ip);
  w.u16(e.binding.port);
  const badDev = writeStr(w, e.deviceId, 1, MAX_ID_BYTES, 1, `entries[${i}].deviceId`);
  if (badDev !== undefined) return badDev;
  if (e.leasedIp === undefined) {
    w.u8(0);
    return undefined;
  }
  if (!isIpValue(e.leasedIp)) return flowStateEncodeError(E.BadAddress, `entries[${i}].leasedIp`);
  w.u8(isIp6(e.leasedIp) ? 6 : 4);
  writeIp(w, e.leasedIp);
  return undefined;
}

function writeBody(w: ByteWriter, m: FlowStateMessage): FlowStateEncodeError | undefined {
  if (m.type === 'state') {
    if (!isU32(m.seq)) return flowStateEncodeError(E.BadNumber, 'seq');
    w.u32(m.seq);
    const badIn = writeStr(w, m.ingressPortId, 0, MAX_ID_BYTES, 1, 'ingressPortId');
    if (badIn !== undefined) return badIn;
    if (m.egressPortIds.length > MAX_EGRESS_PORTS) return flowStateEncodeError(E.TooManyEntries, 'egressPortIds');
    w.u8(m.egressPortIds.length);
    for (let i = 0; i < m.egressPortIds.length; i++) {
      const bad = writeStr(w, m.egressPortIds[i], 1, MAX_ID_BYTES, 1, `egressPortIds[${i}]`);
      if (bad !== undefined) return bad;
    }
    if (m.entries.length > MAX_ENTRIES_PER_MESSAGE) return flowStateEncodeError(E.TooManyEntries, 'entries');
    w.u16(m.entries.length);
    for (let i = 0; i < m.entries.length; i++) {
      const bad = writeEntry(w, m.entries[i], i);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  const badAcked = writeStr(w, m.ackedSender, 1, MAX_ID_BYTES, 1, 'ackedSender');
  if (badAcked !== undefined) return badAcked;
  if (!isU32(m.ackedEpoch)) return flowStateEncodeError(E.BadNumber, 'ackedEpoch');
  w.u32(m.ackedEpoch);
  if (m.seqs.length > MAX_ACK_SEQS) return flowStateEncodeError(E.TooManyEntries, 'seqs');
  w.u16(m.seqs.length);
  for (const s of m.seqs) {
    if (!isU32(s)) return flowStateEncodeError(E.BadNumber, 'seqs');
    w.u32(s);
  }
  return undefined;
}

function encodeInto(w: ByteWriter, m: FlowStateMessage, auth: MessageAuthenticator | undefined): FlowStateEncodeError | undefined {
  const start = w.length;
  w.u32(FLOWSTATE_MAGIC);
  w.u8(FLOWSTATE_VERSION);
  w.u8(m.type === 'state' ? MessageType.State : MessageType.Ack);
  w.u8(auth !== undefined ? FLAG_TAG : 0);
  w.u8(0);
  if (!isU32(m.epoch)) return flowStateEncodeError(E.BadNumber, 'epoch');
  w.u32(m.epoch);
  const bad = writeStr(w, m.sender, 1, MAX_ID_BYTES, 1, 'sender') ?? writeBody(w, m);
  if (bad !== undefined) return bad;
  if (auth !== undefined) w.bytes(auth.tag(w.view().subarray(start)));
  return undefined;
}

/** The message's bytes (tagged when `auth` is given), or why it cannot be encoded. */
export function encodeMessage(m: FlowStateMessage, auth?: MessageAuthenticator): Uint8Array | FlowStateEncodeError {
  const w = new ByteWriter();
  return encodeInto(w, m, auth) ?? w.finish();
}

/** The UDP payload: a VXLAN header with the flow-state key (DESIGN: Tunnels) and the message. */
export function encodeDatagram(m: FlowStateMessage, auth?: MessageAuthenticator): Uint8Array | FlowStateEncodeError {
  const w = new ByteWriter(512);
  for (let i = 0; i < VXLAN_HEADER_LEN; i++) w.u8(0);
  const bad = encodeInto(w, m, auth);
  if (bad !== undefined) return bad;
  const out = w.finish();
  writeVxlan(out, 0, { flags: 0, vni: TUNNEL_KEY_FLOW_STATE });
  return out;
}

/**
 * The message inside a datagram made by encodeDatagram (a view past the VXLAN header): what a tunnel
 * port carries as the inner frame of a flow-state frame, the tunnel writing its own header.
 */
export function datagramMessage(datagram: Uint8Array): Uint8Array {
  return datagram.subarray(VXLAN_HEADER_LEN);
}

function readStr(r: ByteReader, min: number, max: number, prefix: 1 | 2): string | FlowStateDecodeError {
  const at = r.off;
  if (!r.has(prefix)) return flowStateDecodeError(R.Truncated, at);
  const len = prefix === 1 ? r.u8() : r.u16();
  if (len < min || len > max) return flowStateDecodeError(R.BadLength, at);
  if (!r.has(len)) return flowStateDecodeError(R.Truncated, r.off);
  return r.utf8(len) ?? flowStateDecodeError(R.BadString, at);
}

function readIp(r: ByteReader): IpAddr | FlowStateDecodeError {
  const at = r.off;
  if (!r.has(1)) return flowStateDecodeError(R.Truncated, at);
  const family = r.u8();
  const len = family === 4 ? 4 : family === 6 ? 16 : 0;
  if (len === 0) return flowStateDecodeError(R.BadValue, at);
  if (!r.has(len)) return flowStateDecodeError(R.Truncated, r.off);
  if (family === 4) return r.u32();
  const a = readIp6Addr(r.b, r.off);
  r.off += 16;
  return a;
}

function readEntry(r: ByteReader): FlowStateEntry | FlowStateDecodeError {
  const at = r.off;
  if (!r.has(5)) return flowStateDecodeError(R.Truncated, at);
  const kind = r.u8();
  if (kind !== EntryKind.Conntrack && kind !== EntryKind.Nat) return flowStateDecodeError(R.BadValue, at);
  const lifetimeMs = r.u32();
  const key = readStr(r, 1, MAX_KEY_BYTES, 2);
  if (typeof key !== 'string') return key;
  if (kind === EntryKind.Conntrack) return { kind: 'conntrack', key, lifetimeMs };
  const ip = readIp(r);
  if (typeof ip === 'object') return ip;
  if (!r.has(2)) return flowStateDecodeError(R.Truncated, r.off);
  const port = r.u16();
  const deviceId = readStr(r, 1, MAX_ID_BYTES, 1);
  if (typeof deviceId !== 'string') return deviceId;
  if (!r.has(1)) return flowStateDecodeError(R.Truncated, r.off);
  if (r.b[r.off] === 0) {
    r.off++;
    return { kind: 'nat', key, binding: { ip, port }, deviceId, lifetimeMs };
  }
  const leasedIp = readIp(r);
  if (typeof leasedIp === 'object') return leasedIp;
  return { kind: 'nat', key, binding: { ip, port }, deviceId, leasedIp, lifetimeMs };
}

function readState(r: ByteReader, sender: string, epoch: number): StateMessage | FlowStateDecodeError {
  if (!r.has(4)) return flowStateDecodeError(R.Truncated, r.off);
  const seq = r.u32();
  const ingressPortId = readStr(r, 0, MAX_ID_BYTES, 1);
  if (typeof ingressPortId !== 'string') return ingressPortId;
  if (!r.has(1)) return flowStateDecodeError(R.Truncated, r.off);
  const egressCount = r.u8();
  if (egressCount > MAX_EGRESS_PORTS) return flowStateDecodeError(R.TooManyEntries, r.off - 1);
  const egressPortIds: string[] = [];
  for (let i = 0; i < egressCount; i++) {
    const id = readStr(r, 1, MAX_ID_BYTES, 1);
    if (typeof id !== 'string') return id;
    egressPortIds.push(id);
  }
  if (!r.has(2)) return flowStateDecodeError(R.Truncated, r.off);
  const count = r.u16();
  if (count > MAX_ENTRIES_PER_MESSAGE) return flowStateDecodeError(R.TooManyEntries, r.off - 2);
  const entries: FlowStateEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = readEntry(r);
    if ('reason' in e) return e;
    entries.push(e);
  }
  return { type: 'state', sender, epoch, seq, ingressPortId, egressPortIds, entries };
}

function readAck(r: ByteReader, sender: string, epoch: number): AckMessage | FlowStateDecodeError {
  const ackedSender = readStr(r, 1, MAX_ID_BYTES, 1);
  if (typeof ackedSender !== 'string') return ackedSender;
  if (!r.has(6)) return flowStateDecodeError(R.Truncated, r.off);
  const ackedEpoch = r.u32();
  const count = r.u16();
  if (count > MAX_ACK_SEQS) return flowStateDecodeError(R.TooManyEntries, r.off - 2);
  if (!r.has(count * 4)) return flowStateDecodeError(R.Truncated, r.off);
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) seqs.push(r.u32());
  return { type: 'ack', sender, epoch, ackedSender, ackedEpoch, seqs };
}

/**
 * Decodes one message; never throws. With `auth`, the tag is checked (in constant time, by the
 * authenticator) before any field past the fixed header is parsed, and an untagged message is
 * refused. Without `auth`, a tag is skipped unverified.
 */
export function decodeMessage(b: Uint8Array, auth?: MessageAuthenticator): FlowStateMessage | FlowStateDecodeError {
  if (b.length < 4) return flowStateDecodeError(R.Truncated, 0);
  if (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0 !== FLOWSTATE_MAGIC) return flowStateDecodeError(R.BadMagic, 0);
  if (b.length < FIXED_HEADER_LEN) return flowStateDecodeError(R.Truncated, 4);
  if (b[4] !== FLOWSTATE_VERSION) return flowStateDecodeError(R.UnknownVersion, 4);
  const type = b[5];
  if (type !== MessageType.State && type !== MessageType.Ack) return flowStateDecodeError(R.UnknownType, 5);
  const tagged = (b[6] & FLAG_TAG) !== 0;
  let end = b.length;
  if (tagged) {
    if (end - FIXED_HEADER_LEN < TAG_LEN) return flowStateDecodeError(R.Truncated, FIXED_HEADER_LEN);
    end -= TAG_LEN;
  }
  if (auth !== undefined) {
    if (!tagged) return flowStateDecodeError(R.MissingTag, 6);
    if (!auth.verify(b.subarray(0, end), b.subarray(end))) return flowStateDecodeError(R.BadTag, end);
  }
  const r = new ByteReader(b, 8, end);
  const epoch = r.u32();
  const sender = readStr(r, 1, MAX_ID_BYTES, 1);
  if (typeof sender !== 'string') return sender;
  const m = type === MessageType.State ? readState(r, sender, epoch) : readAck(r, sender, epoch);
  if ('reason' in m) return m;
  if (r.off !== end) return flowStateDecodeError(R.BadLength, r.off);
  return m;
}

/** Decodes a UDP payload: a VXLAN header that must carry the flow-state key, then the message. */
export function decodeDatagram(payload: Uint8Array, auth?: MessageAuthenticator): FlowStateMessage | FlowStateDecodeError {
  const v = decodeVxlan(payload);
  if (isDecodeError(v)) return flowStateDecodeError(R.NotVxlan, v.offset);
  if (v.header.vni !== TUNNEL_KEY_FLOW_STATE) return flowStateDecodeError(R.WrongVni, 4);
  const m = decodeMessage(v.inner, auth);
  return 'reason' in m ? flowStateDecodeError(m.reason, m.offset + VXLAN_HEADER_LEN) : m;
}
