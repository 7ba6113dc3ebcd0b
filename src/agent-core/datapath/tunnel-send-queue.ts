// The send queue of a tunnel port: frames leave in the order send() was called, in bounded chunks
// with a turn of the event loop between chunks, so a large batch never holds the loop for long
// (DESIGN: Threads and isolation; STACK-NOTES: bounded batches).
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TunnelFrame } from './tunnel-port.js';

/**
 * Transmits frames[start, end) and returns (or resolves to) how many the kernel accepted. It counts
 * its own failures and must not throw.
 */
export type TransmitSlice = (frames: readonly TunnelFrame[], start: number, end: number) => number | Promise<number>;

export interface TunnelSendQueueOptions {
  /** Frames transmitted before the queue yields to the event loop. */
  chunkSize: number;
  /** Frames waiting at most; a send() beyond it has its excess counted in onDropped. */
  maxQueuedFrames: number;
  transmit: TransmitSlice;
  /** Frames refused: queue full or closed. */
  onDropped: (count: number) => void;
}

interface Job {
  readonly frames: readonly TunnelFrame[];
  next: number;
  sent: number;
  readonly resolve: (sent: number) => void;
}

export class TunnelSendQueue {
  readonly #opts: TunnelSendQueueOptions;
  readonly #jobs: Job[] = [];
  #queued = 0;
  #pump: Promise<void> = Promise.resolve();
  #running = false;
  #closed = false;

  constructor(opts: TunnelSendQueueOptions) {
    if (!(opts.chunkSize >= 1) || !(opts.maxQueuedFrames >= 1)) throw new RangeError('chunkSize and maxQueuedFrames must be >= 1');
    this.#opts = opts;
  }

  /** Frames accepted and not yet transmitted. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Queues frames behind earlier ones; resolves with how many the kernel accepted. A first chunk
   * goes out synchronously when the queue was idle.
   */
  enqueue(frames: readonly TunnelFrame[]): Promise<number> {
    if (this.#closed) {
      if (frames.length > 0) this.#opts.onDropped(frames.length);
      return Promise.resolve(0);
    }
    const room = this.#opts.maxQueuedFrames - this.#queued;
    let accepted = frames;
    if (frames.length > room) {
      this.#opts.onDropped(frames.length - room);
      accepted = frames.slice(0, room);
    }
    if (accepted.length === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.#jobs.push({ frames: accepted, next: 0, sent: 0, resolve });
      this.#queued += accepted.length;
      if (!this.#running) this.#pump = this.#run();
    });
  }

  /** Finishes the chunk in flight, then drops what is still queued. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pump;
    for (const job of this.#jobs.splice(0)) {
      this.#opts.onDropped(job.frames.length - job.next);
      job.resolve(job.sent);
    }
    this.#queued = 0;
  }

  // The flag drops in the same synchronous stretch as the last check of the queue: a send() made
  // by code that awaited a resolved job runs after it and starts a new run. (An extra async layer
  // here would let that send() see a run that has already finished its loop.)
  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#jobs.length > 0 && !this.#closed) {
        // One chunk may span several small jobs: many one-frame sends still go out together.
        let budget = this.#opts.chunkSize;
        while (budget > 0 && this.#jobs.length > 0 && !this.#closed) {
          const job = this.#jobs[0]!;
          const start = job.next;
          const end = Math.min(job.frames.length, start + budget);
          const r = this.#transmit(job.frames, start, end);
          job.sent += typeof r === 'number' ? r : await r;
          job.next = end;
          this.#queued -= end - start;
          budget -= end - start;
          if (job.next === job.frames.length) {
            this.#jobs.shift();
            job.resolve(job.sent);
          }
        }
        if (this.#jobs.length > 0 && !this.#closed) await nextTurn();
      }
    } finally {
      this.#running = false;
    }
  }

  // A number is passed through without an await so that a synchronous transmit stays synchronous.
  #transmit(frames: readonly TunnelFrame[], start: number, end: number): number | Promise<number> {
    const fail = (): number => {
      this.#opts.onDropped(end - start);
      return 0;
    };
    try {
      const r = this.#opts.transmit(frames, start, end);
      return typeof r === 'number' ? r : r.catch(fail);
    } catch {
      return fail();
    }
  }
}
