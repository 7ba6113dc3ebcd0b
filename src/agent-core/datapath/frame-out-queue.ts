// The frames one datapath port sends at the end of a batch, packed for one native send per buffer
// (DESIGN: The packet's way, step 6): frames that are views into one larger buffer (a received
// batch, rewritten in place) go by offset from that buffer with no copy, others are copied into a
// staging buffer. The views go first, then the copies: frames of one flow all take the same way, so a
// flow's order holds; only frames of different flows may be reordered.

/** Sends data[offsets[i] .. offsets[i] + lengths[i]) for i < count; returns how many the kernel took. */
export type PackedSend = (data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number) => number;

const INITIAL_FRAMES = 256;
const EMPTY = new Uint8Array(0);
const INITIAL_STAGING_BYTES = 64 * 1024;

/** Offsets and lengths of packed frames, grown as needed and reused across batches. */
class PackedList {
  offsets = new Uint32Array(INITIAL_FRAMES);
  lengths = new Uint32Array(INITIAL_FRAMES);
  count = 0;

  add(offset: number, length: number): void {
    if (this.count === this.offsets.length) {
      const offsets = new Uint32Array(this.count * 2);
      const lengths = new Uint32Array(this.count * 2);
      offsets.set(this.offsets);
      lengths.set(this.lengths);
      this.offsets = offsets;
      this.lengths = lengths;
    }
    this.offsets[this.count] = offset;
    this.lengths[this.count] = length;
    this.count++;
  }
}

export class FrameOutQueue {
  readonly #views = new PackedList();
  /** The buffer the queued views point into, and the whole of it as bytes. */
  #viewBuffer: ArrayBufferLike | undefined;
  #viewBytes: Uint8Array = EMPTY;
  readonly #copies = new PackedList();
  #staging = new Uint8Array(INITIAL_STAGING_BYTES);
  #stagingUsed = 0;

  get length(): number {
    return this.#views.count + this.#copies.count;
  }

  /**
   * Queues a frame. It is not copied when it is a view into a larger buffer (a received batch) that
   * the queued views share, or when no view is queued yet: its bytes must then stay as they are
   * until flush(). A frame that is its whole buffer (a copy made for one output) is copied.
   */
  push(frame: Uint8Array): void {
    const buffer = frame.buffer;
    if (this.#views.count === 0 && buffer !== this.#viewBuffer && frame.byteLength !== buffer.byteLength) {
      this.#viewBuffer = buffer;
      this.#viewBytes = new Uint8Array(buffer);
    }
    if (buffer === this.#viewBuffer) {
      this.#views.add(frame.byteOffset, frame.length);
      return;
    }
    const need = this.#stagingUsed + frame.length;
    if (need > this.#staging.length) {
      const grown = new Uint8Array(Math.max(need, this.#staging.length * 2));
      grown.set(this.#staging.subarray(0, this.#stagingUsed));
      this.#staging = grown;
    }
    this.#staging.set(frame, this.#stagingUsed);
    this.#copies.add(this.#stagingUsed, frame.length);
    this.#stagingUsed = need;
  }

  /** Sends what is queued (views, then copies) and empties the queue; returns how many frames the kernel took. */
  flush(send: PackedSend): number {
    let sent = 0;
    const v = this.#views;
    const c = this.#copies;
    // Emptied first: a throwing send must not leave views of a buffer that is about to be reused.
    const [viewCount, copyCount, viewBytes] = [v.count, c.count, this.#viewBytes];
    this.clear();
    if (viewCount > 0) sent += send(viewBytes, v.offsets, v.lengths, viewCount);
    if (copyCount > 0) sent += send(this.#staging, c.offsets, c.lengths, copyCount);
    return sent;
  }

  /** Drops what is queued without sending it (and the reference to the views' buffer, which may be large). */
  clear(): void {
    this.#views.count = 0;
    this.#copies.count = 0;
    this.#stagingUsed = 0;
    this.#viewBuffer = undefined;
    this.#viewBytes = EMPTY;
  }
}
