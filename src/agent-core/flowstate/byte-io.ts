// Bounds-checked big-endian reading and growable writing for the flow-state codec, with UTF-8 strings
// that must be well formed both ways (so a decoded message re-encodes to the same value).

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Bytes `s` takes in UTF-8, or -1 if it holds a lone surrogate (not representable, would not round-trip). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}

export class ByteWriter {
  private buf: Uint8Array;
  private off = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.off;
  }

  private reserve(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.off));
    this.buf = next;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.off++] = v & 0xff;
  }

  u16(v: number): void {
    this.reserve(2);
    this.buf[this.off++] = (v >>> 8) & 0xff;
    this.buf[this.off++] = v & 0xff;
  }

  u32(v: number): void {
    this.reserve(4);
    this.buf[this.off++] = (v >>> 24) & 0xff;
    this.buf[this.off++] = (v >>> 16) & 0xff;
    this.buf[this.off++] = (v >>> 8) & 0xff;
    this.buf[this.off++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** The string's UTF-8 bytes; the caller has checked it with utf8Length (`len`). */
  utf8(s: string, len: number): void {
    this.reserve(len);
    if (len === s.length) {
      for (let i = 0; i < len; i++) this.buf[this.off + i] = s.charCodeAt(i);
      this.off += len;
      return;
    }
    const r = utf8Encoder.encodeInto(s, this.buf.subarray(this.off, this.off + len));
    this.off += r.written;
  }

  /** A copy of what was written, exactly sized (the datagram handed to the socket). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.off);
  }

  /** A view of the bytes written so far (to compute a tag over them). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.off);
  }
}

/** A cursor over `b[off, end)`. Reads do not check bounds: callers call `has(n)` first. */
export class ByteReader {
  constructor(
    readonly b: Uint8Array,
    public off: number,
    readonly end: number,
  ) {}

  has(n: number): boolean {
    return this.end - this.off >= n;
  }

  u8(): number {
    return this.b[this.off++];
  }

  u16(): number {
    const v = (this.b[this.off] << 8) | this.b[this.off + 1];
    this.off += 2;
    return v;
  }

  u32(): number {
    const o = this.off;
    this.off += 4;
    return ((this.b[o] << 24) | (this.b[o + 1] << 16) | (this.b[o + 2] << 8) | this.b[o + 3]) >>> 0;
  }

  /** `len` bytes as UTF-8 (checked by the caller to be present); undefined if not well formed. */
  utf8(len: number): string | undefined {
    const start = this.off;
    this.off += len;
    let ascii = true;
    for (let i = start; i < start + len; i++) {
      if (this.b[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // Short ids and keys: building the string directly beats a decoder call.
      let s = '';
      for (let i = start; i < start + len; i++) s += String.fromCharCode(this.b[i]);
      return s;
    }
    try {
      return utf8Decoder.decode(this.b.subarray(start, start + len));
    } catch {
      // The fatal decoder's only way of saying "malformed": turned into a value here.
      return undefined;
    }
  }
}
