// The frequent Datapath calls as bytes for the worker (DESIGN: Threads and isolation): installs,
// executes, flow-state sends and invalidations of one turn go over as one transferred ArrayBuffer
// instead of structured clones of flow specs and action objects. Strings that recur (flow tags,
// tunnel endpoints) cross once and go by number after that.
import { Buffer } from 'node:buffer';
import { KEY_WORDS, type Field, type HeaderModification } from '../packet/index.js';
import type { DpAction, DpFlowSpec } from './datapath.js';

const OP_INSTALL = 1;
const OP_EXECUTE = 2;
const OP_SEND_FLOW_STATE = 3;
const OP_INVALIDATE = 4;
/** The next structured-clone call of the batch (CallBatch.calls) goes here in the order. */
const OP_OBJECT = 5;
/** Both sides forget the numbered strings. */
const OP_RESET_STRINGS = 6;

/** A string by number (known), numbered now (text follows), or just the text. */
const STR_REF = 0;
const STR_DEFINE = 1;

const ACT_SET_FIELD = 1;
const ACT_DEC_TTL = 2;
const ACT_PUSH_VLAN = 3;
const ACT_POP_VLAN = 4;
const ACT_SET_INNER_FIELD = 5;
const ACT_OUTPUT = 6;
const ACT_TUNNEL = 7;

/** An action count meaning: the same list as the last one written (an execute after its install). */
const SAME_ACTIONS = 0xffff;

const VAL_NUMBER = 0;
const VAL_BIGINT = 1;

/** Numbered strings kept at most; past it both sides start over (flow tags of single flows come and go). */
export const MAX_NUMBERED_STRINGS = 16384;
const MAX_U128 = (1n << 128n) - 1n;

export class CallCodecError extends Error {
  override readonly name = 'CallCodecError';
}

/**
 * Writes calls in order into one growing buffer (the main thread's side). Arrays handed in are
 * read at the call and must not change afterwards: an action list passed again as the same array
 * is sent as "the same as the last".
 */
export class CallEncoder {
  #buf: Buffer = Buffer.allocUnsafeSlow(16384);
  #view: DataView = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  #at = 0;
  readonly #ids = new Map<string, number>();
  /** Strings numbered by the record being written (forgotten again if it cannot be finished). */
  readonly #definedNow: string[] = [];
  #recordStart = 0;
  /**
   * The last install's tags and their numbers: consecutive flows carry mostly the same tags in the
   * same order, and comparing with the string in the same place is cheaper than a map lookup.
   */
  #lastList: readonly string[] = [];
  #lastIds: number[] = [];
  /** The last action list written: the execute of a new flow's packet repeats its install's. */
  #lastActions: readonly DpAction[] | undefined;

  get byteLength(): number {
    return this.#at;
  }

  /** Each call is written whole or not at all: a value it cannot encode throws CallCodecError and leaves no trace. */
  installFlow(flow: DpFlowSpec): void {
    if (flow.key.length !== KEY_WORDS) throw new CallCodecError(`flow key has ${flow.key.length} words, not ${KEY_WORDS}`);
    this.#startRecord(OP_INSTALL, 8 * KEY_WORDS + 48);
    try {
      this.#installBody(flow);
    } catch (err) {
      this.#abandonRecord();
      throw err;
    }
  }

  #installBody(flow: DpFlowSpec): void {
    // Both ends are one process: the key's words go over as they are in memory.
    this.#buf.set(new Uint8Array(flow.key.buffer, flow.key.byteOffset, 8 * KEY_WORDS), this.#at);
    let at = this.#at + 8 * KEY_WORDS;
    const v = this.#view;
    v.setFloat64(at, flow.mask, true);
    v.setFloat64(at + 8, flow.timeouts.idleMs, true);
    v.setFloat64(at + 16, flow.timeouts.hardMs, true);
    v.setFloat64(at + 24, flow.maxIpLength ?? Infinity, true);
    const priority = flow.timeouts.priority;
    this.#buf[at + 32] = priority === undefined ? 0 : 1;
    at += 33;
    if (priority !== undefined) {
      v.setFloat64(at, priority, true);
      at += 8;
    }
    this.#at = at;
    this.#actions(flow.actions);
    this.#strings(flow.tags, true);
  }

  execute(frame: Uint8Array, actions: readonly DpAction[]): void {
    this.#startRecord(OP_EXECUTE, 4 + frame.length);
    this.#bytes(frame);
    try {
      this.#actions(actions);
    } catch (err) {
      this.#abandonRecord();
      throw err;
    }
  }

  sendFlowState(remoteIp: string, payload: Uint8Array): void {
    this.#startRecord(OP_SEND_FLOW_STATE, 4 + payload.length);
    this.#string(remoteIp);
    this.#bytes(payload);
  }

  invalidate(tags: readonly string[]): void {
    this.#startRecord(OP_INVALIDATE, 4);
    try {
      this.#strings(tags, false);
    } catch (err) {
      this.#abandonRecord();
      throw err;
    }
  }

  /** Marks where the next call of the batch's object list runs. */
  object(): void {
    this.#startRecord(OP_OBJECT, 0);
  }

  /**
   * The bytes written, to be transferred (undefined when none): the first `length` bytes of `bytes`.
   * The encoder goes on with a new buffer; its strings stay numbered.
   */
  take(): { readonly bytes: ArrayBuffer; readonly length: number } | undefined {
    const length = this.#at;
    if (length === 0) return undefined;
    this.#at = 0;
    const buf = this.#buf;
    // A mostly empty buffer is copied out and kept, so that a message never carries much slack.
    // (allocUnsafeSlow memory is an ArrayBuffer, never shared.)
    if (length * 2 < buf.length) return { bytes: (buf.buffer as ArrayBuffer).slice(buf.byteOffset, buf.byteOffset + length), length };
    // allocUnsafeSlow buffers are not slices of a pool: the ArrayBuffer is this buffer's alone.
    this.#use(Buffer.allocUnsafeSlow(buf.length));
    return { bytes: buf.buffer as ArrayBuffer, length };
  }

  /** After the worker died or a batch was lost: the other side's numbering is gone. */
  reset(): void {
    this.#at = 0;
    this.#forgetStrings();
  }

  #use(buf: Buffer): void {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #forgetStrings(): void {
    this.#ids.clear();
    this.#lastList = [];
    this.#lastIds = [];
    this.#lastActions = undefined;
  }

  #startRecord(op: number, bytes: number): void {
    if (this.#ids.size >= MAX_NUMBERED_STRINGS) {
      this.#forgetStrings();
      this.#ensure(1);
      this.#buf[this.#at++] = OP_RESET_STRINGS;
    }
    this.#ensure(1 + bytes);
    this.#recordStart = this.#at;
    this.#definedNow.length = 0;
    this.#buf[this.#at++] = op;
  }

  #abandonRecord(): void {
    this.#at = this.#recordStart;
    // The other side never sees this record: whatever it wrote must not be referred to.
    this.#lastActions = undefined;
    if (this.#definedNow.length > 0) {
      for (const s of this.#definedNow) this.#ids.delete(s);
      this.#lastList = [];
      this.#lastIds = [];
    }
    this.#definedNow.length = 0;
  }

  #ensure(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(grown, 0, 0, this.#at);
    this.#use(grown);
  }

  #bytes(bytes: Uint8Array): void {
    this.#ensure(4 + bytes.length);
    this.#view.setUint32(this.#at, bytes.length, true);
    this.#buf.set(bytes, this.#at + 4);
    this.#at += 4 + bytes.length;
  }

  #strings(list: readonly string[], byPlace: boolean): void {
    const n = list.length;
    if (n > 0xffff) throw new CallCodecError(`${n} strings in one call`);
    this.#ensure(2 + 5 * n);
    this.#view.setUint16(this.#at, n, true);
    this.#at += 2;
    if (!byPlace) {
      for (let i = 0; i < n; i++) this.#string(list[i]!);
      return;
    }
    const last = this.#lastList;
    const lastIds = this.#lastIds;
    const ids: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const s = list[i]!;
      if (i < last.length && last[i] === s) {
        const id = lastIds[i]!;
        ids[i] = id;
        this.#buf[this.#at] = STR_REF;
        this.#view.setUint32(this.#at + 1, id, true);
        this.#at += 5;
      } else ids[i] = this.#string(s);
    }
    this.#lastList = list;
    this.#lastIds = ids;
  }

  /** Writes the string (by number when it has one); returns its number. */
  #string(s: string): number {
    const id = this.#ids.get(s);
    if (id !== undefined) {
      this.#ensure(5);
      this.#buf[this.#at] = STR_REF;
      this.#view.setUint32(this.#at + 1, id, true);
      this.#at += 5;
      return id;
    }
    const nid = this.#ids.size;
    this.#ids.set(s, nid);
    this.#definedNow.push(s);
    this.#ensure(9 + 3 * s.length);
    const at = this.#at;
    this.#buf[at] = STR_DEFINE;
    this.#view.setUint32(at + 1, nid, true);
    const len = this.#buf.write(s, at + 9, 'utf8');
    this.#view.setUint32(at + 5, len, true);
    this.#at = at + 9 + len;
    return nid;
  }

  #actions(actions: readonly DpAction[]): void {
    if (actions.length >= SAME_ACTIONS) throw new CallCodecError(`${actions.length} actions in one call`);
    this.#ensure(2);
    if (actions === this.#lastActions) {
      this.#view.setUint16(this.#at, SAME_ACTIONS, true);
      this.#at += 2;
      return;
    }
    this.#view.setUint16(this.#at, actions.length, true);
    this.#at += 2;
    for (const a of actions) this.#action(a);
    this.#lastActions = actions;
  }

  #action(a: DpAction): void {
    this.#ensure(40);
    const b = this.#buf;
    const v = this.#view;
    const at = this.#at;
    switch (a.kind) {
      case 'setField':
      case 'setInnerField':
        b[at] = a.kind === 'setField' ? ACT_SET_FIELD : ACT_SET_INNER_FIELD;
        b[at + 1] = a.field;
        if (typeof a.value === 'number') {
          b[at + 2] = VAL_NUMBER;
          v.setFloat64(at + 3, a.value, true);
          this.#at = at + 11;
        } else {
          if (a.value < 0n || a.value > MAX_U128) throw new CallCodecError(`field value ${a.value} does not fit 128 bits`);
          b[at + 2] = VAL_BIGINT;
          v.setBigUint64(at + 3, a.value >> 64n, true);
          v.setBigUint64(at + 11, a.value & 0xffffffffffffffffn, true);
          this.#at = at + 19;
        }
        return;
      case 'decTtl':
        b[at] = ACT_DEC_TTL;
        this.#at = at + 1;
        return;
      case 'pushVlan':
        b[at] = ACT_PUSH_VLAN;
        v.setFloat64(at + 1, a.vlanId, true);
        this.#at = at + 9;
        return;
      case 'popVlan':
        b[at] = ACT_POP_VLAN;
        this.#at = at + 1;
        return;
      case 'output':
        b[at] = ACT_OUTPUT;
        v.setFloat64(at + 1, a.port, true);
        this.#at = at + 9;
        return;
      case 'tunnel':
        b[at] = ACT_TUNNEL;
        v.setFloat64(at + 1, a.key, true);
        this.#at = at + 9;
        this.#string(a.remoteIp);
        return;
      default:
        throw new CallCodecError(`unknown datapath action ${(a as { kind: unknown }).kind}`);
    }
  }
}

/** One call read back, in the shapes of the Datapath calls. */
export type DecodedCall =
  | { readonly op: 'installFlow'; readonly flow: DpFlowSpec }
  | { readonly op: 'execute'; readonly frame: Uint8Array; readonly actions: readonly DpAction[] }
  | { readonly op: 'sendFlowState'; readonly remoteIp: string; readonly payload: Uint8Array }
  | { readonly op: 'invalidate'; readonly tags: readonly string[] }
  | { readonly op: 'object' };

/** Reads batches in the order they were written (the worker's side); keeps the numbered strings. */
export class CallDecoder {
  #strings: string[] = [];
  #lastActions: DpAction[] | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #at = 0;
  #end = 0;

  /** Starts reading the first `length` bytes of a batch. */
  begin(bytes: ArrayBuffer, length: number): void {
    this.#buf = Buffer.from(bytes, 0, length);
    this.#view = new DataView(bytes, 0, length);
    this.#at = 0;
    this.#end = length;
  }

  /** The next call, or undefined at the end; throws CallCodecError on bytes it cannot read. */
  next(): DecodedCall | undefined {
    const b = this.#buf;
    const v = this.#view;
    for (;;) {
      if (this.#at >= this.#end) return undefined;
      const op = b[this.#at++]!;
      switch (op) {
        case OP_RESET_STRINGS:
          this.#strings = [];
          this.#lastActions = undefined;
          continue;
        case OP_INSTALL: {
          this.#need(8 * KEY_WORDS + 33);
          const at = this.#at;
          const key = new Float64Array(KEY_WORDS);
          new Uint8Array(key.buffer).set(b.subarray(at, at + 8 * KEY_WORDS));
          const f = at + 8 * KEY_WORDS;
          const mask = v.getFloat64(f, true);
          const idleMs = v.getFloat64(f + 8, true);
          const hardMs = v.getFloat64(f + 16, true);
          const maxIpLength = v.getFloat64(f + 24, true);
          this.#at = f + 33;
          let timeouts: DpFlowSpec['timeouts'];
          if (b[f + 32] === 1) {
            this.#need(8);
            timeouts = { idleMs, hardMs, priority: v.getFloat64(this.#at, true) };
            this.#at += 8;
          } else timeouts = { idleMs, hardMs };
          const actions = this.#actions();
          const tags = this.#stringList();
          const flow: DpFlowSpec = maxIpLength === Infinity ? { key, mask, actions, tags, timeouts } : { key, mask, actions, tags, timeouts, maxIpLength };
          return { op: 'installFlow', flow };
        }
        case OP_EXECUTE: {
          const frame = this.#bytes();
          return { op: 'execute', frame, actions: this.#actions() };
        }
        case OP_SEND_FLOW_STATE: {
          const remoteIp = this.#string();
          return { op: 'sendFlowState', remoteIp, payload: this.#bytes() };
        }
        case OP_INVALIDATE:
          return { op: 'invalidate', tags: this.#stringList() };
        case OP_OBJECT:
          return { op: 'object' };
        default:
          throw new CallCodecError(`unknown call code ${op} at byte ${this.#at - 1}`);
      }
    }
  }

  #need(n: number): void {
    if (this.#at + n > this.#end) throw new CallCodecError(`call truncated at byte ${this.#at}`);
  }

  #bytes(): Uint8Array {
    this.#need(4);
    const n = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    this.#need(n);
    const out = new Uint8Array(this.#buf.buffer, this.#buf.byteOffset + this.#at, n);
    this.#at += n;
    return out;
  }

  #stringList(): string[] {
    this.#need(2);
    const n = this.#view.getUint16(this.#at, true);
    this.#at += 2;
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.#string();
    return out;
  }

  #string(): string {
    this.#need(5);
    const b = this.#buf;
    const kind = b[this.#at];
    const id = this.#view.getUint32(this.#at + 1, true);
    this.#at += 5;
    if (kind === STR_REF) {
      const s = this.#strings[id];
      if (s === undefined) throw new CallCodecError(`string ${id} was never defined`);
      return s;
    }
    if (kind !== STR_DEFINE) throw new CallCodecError(`unknown string code ${kind}`);
    this.#need(4);
    const n = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    this.#need(n);
    const s = b.toString('utf8', this.#at, this.#at + n);
    this.#at += n;
    this.#strings[id] = s;
    return s;
  }

  #actions(): DpAction[] {
    this.#need(2);
    const b = this.#buf;
    const v = this.#view;
    const n = v.getUint16(this.#at, true);
    this.#at += 2;
    if (n === SAME_ACTIONS) {
      if (this.#lastActions === undefined) throw new CallCodecError('a call repeats an action list that was never sent');
      return this.#lastActions;
    }
    const out = new Array<DpAction>(n);
    for (let i = 0; i < n; i++) {
      this.#need(1);
      const kind = b[this.#at++];
      switch (kind) {
        case ACT_SET_FIELD:
        case ACT_SET_INNER_FIELD: {
          this.#need(2);
          const field = b[this.#at] as Field;
          const valueKind = b[this.#at + 1];
          this.#at += 2;
          let value: number | bigint;
          if (valueKind === VAL_NUMBER) {
            this.#need(8);
            value = v.getFloat64(this.#at, true);
            this.#at += 8;
          } else {
            this.#need(16);
            value = (v.getBigUint64(this.#at, true) << 64n) | v.getBigUint64(this.#at + 8, true);
            this.#at += 16;
          }
          const m: HeaderModification = kind === ACT_SET_FIELD ? { kind: 'setField', field, value } : { kind: 'setInnerField', field, value };
          out[i] = m;
          break;
        }
        case ACT_DEC_TTL:
          out[i] = { kind: 'decTtl' };
          break;
        case ACT_PUSH_VLAN:
          this.#need(8);
          out[i] = { kind: 'pushVlan', vlanId: v.getFloat64(this.#at, true) };
          this.#at += 8;
          break;
        case ACT_POP_VLAN:
          out[i] = { kind: 'popVlan' };
          break;
        case ACT_OUTPUT:
          this.#need(8);
          out[i] = { kind: 'output', port: v.getFloat64(this.#at, true) };
          this.#at += 8;
          break;
        case ACT_TUNNEL: {
          this.#need(8);
          const key = v.getFloat64(this.#at, true);
          this.#at += 8;
          out[i] = { kind: 'tunnel', remoteIp: this.#string(), key };
          break;
        }
        default:
          throw new CallCodecError(`unknown action code ${kind}`);
      }
    }
    this.#lastActions = out;
    return out;
  }
}
