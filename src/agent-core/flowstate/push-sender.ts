// The sending half of the confirmed flow-state push (DESIGN: Flow state, Push: "receivers acknowledge
// and the sender retransmits a bounded number of times"). A pure state machine: time comes in as
// `now` (ms), datagrams go out as values; the shell (udp-transport.ts) owns the socket and the timer.
import { ExpiryHeap } from '../flows/index.js';
import type { Id } from '../topology/index.js';
import { splitIntoBatches } from './batching.js';
import { encodeDatagram } from './message-codec.js';
import { type AckMessage, type FlowStateEntry, type MessageAuthenticator, isFlowStateEncodeError } from './message-types.js';

export interface FlowStatePush {
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
  readonly entries: readonly FlowStateEntry[];
}

/** A UDP payload (VXLAN header + message) for the host `target`. */
export interface OutboundDatagram {
  readonly target: Id;
  readonly payload: Uint8Array;
}

export interface PushSenderOptions {
  readonly hostId: Id;
  /** This run's session number (random at start): scopes the sequence numbers. */
  readonly epoch: number;
  readonly auth?: MessageAuthenticator;
  /** First retransmission after this long without an ACK; doubles at each retry. */
  readonly retransmitTimeoutMs?: number;
  /** Retransmissions before a message is given up for lost. */
  readonly maxRetries?: number;
  /** Unacknowledged messages kept per target; past it the oldest is dropped (and counted). */
  readonly maxOutstandingPerTarget?: number;
  readonly maxDatagramBytes?: number;
  /** First sequence number (default 1). */
  readonly initialSeq?: number;
}

export const DEFAULT_RETRANSMIT_TIMEOUT_MS = 20;
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_MAX_OUTSTANDING_PER_TARGET = 1024;

export interface PushSenderCounters {
  /** STATE messages sent to a target for the first time (one per message and target). */
  messagesSent: number;
  entriesSent: number;
  retransmitted: number;
  /** Messages acknowledged by their target. */
  acked: number;
  /** Messages given up after the last retry without an ACK. */
  lost: number;
  /** Messages dropped unacknowledged because their target had too many outstanding. */
  overflowDropped: number;
  /** Messages dropped unacknowledged by forgetTarget (the host left). */
  abandoned: number;
  /** ACKed sequence numbers that were not outstanding (a late or repeated ACK). */
  duplicateAcks: number;
  /** ACKs for another host or another of our sessions. */
  acksIgnored: number;
  /** Entries that could not be encoded (bad value, or too large for a datagram). */
  entriesRejected: number;
}

interface Outstanding {
  readonly target: Id;
  readonly seq: number;
  readonly payload: Uint8Array;
  retries: number;
  timeoutMs: number;
  /** When it is retransmitted next (or given up); its key in the deadline heap. */
  deadline: number;
  heapPos: number;
}

interface PendingPush {
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
  readonly targets: readonly Id[];
  readonly entries: FlowStateEntry[];
}

export class PushSender {
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxOutstanding: number;
  /** Per target, unacknowledged messages by sequence number, oldest first (Map order). */
  private readonly outstanding = new Map<Id, Map<number, Outstanding>>();
  /** Every outstanding message by deadline: poll and nextDeadline touch only what is due. */
  private readonly deadlines = new ExpiryHeap<Outstanding>();
  /** Pushes enqueued since the last flush, merged by (ingress, egress, targets). */
  private readonly pending = new Map<string, PendingPush>();
  private nextSeq: number;
  private readonly count: PushSenderCounters = {
    messagesSent: 0, entriesSent: 0, retransmitted: 0, acked: 0, lost: 0, overflowDropped: 0, abandoned: 0,
    duplicateAcks: 0, acksIgnored: 0, entriesRejected: 0,
  };

  constructor(private readonly options: PushSenderOptions) {
    this.timeoutMs = options.retransmitTimeoutMs ?? DEFAULT_RETRANSMIT_TIMEOUT_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.maxOutstanding = Math.max(1, options.maxOutstandingPerTarget ?? DEFAULT_MAX_OUTSTANDING_PER_TARGET);
    this.nextSeq = (options.initialSeq ?? 1) >>> 0;
  }

  /** Queues a push; entries queued for the same ports and targets before `flush` share messages. */
  enqueue(push: FlowStatePush, targets: readonly Id[]): void {
    if (targets.length === 0 || push.entries.length === 0) return;
    const sorted = targets.length === 1 ? targets : [...new Set(targets)].sort();
    // Ids hold no NUL (store ids are znode names): a cheap key that cannot collide.
    const key = `${push.ingressPortId}\u0000${push.egressPortIds.join('\u0001')}\u0000${sorted.join('\u0001')}`;
    const p = this.pending.get(key);
    if (p !== undefined) {
      for (const e of push.entries) p.entries.push(e);
      return;
    }
    this.pending.set(key, {
      ingressPortId: push.ingressPortId, egressPortIds: push.egressPortIds, targets: sorted, entries: [...push.entries],
    });
  }

  /** Encodes what was enqueued, records it as outstanding per target, and returns the datagrams. */
  flush(now: number): OutboundDatagram[] {
    const out: OutboundDatagram[] = [];
    for (const p of this.pending.values()) this.send(p, now, out);
    this.pending.clear();
    return out;
  }

  /** enqueue + flush: the push leaves at once, ahead of the data packet it belongs to. */
  pushFlowState(push: FlowStatePush, targets: readonly Id[], now: number): OutboundDatagram[] {
    this.enqueue(push, targets);
    return this.flush(now);
  }

  private send(p: PendingPush, now: number, out: OutboundDatagram[]): void {
    const header = { sender: this.options.hostId, ingressPortId: p.ingressPortId, egressPortIds: p.egressPortIds };
    const split = splitIntoBatches(header, p.entries, {
      maxDatagramBytes: this.options.maxDatagramBytes, tagged: this.options.auth !== undefined,
    });
    if (isFlowStateEncodeError(split)) {
      this.count.entriesRejected += p.entries.length;
      return;
    }
    this.count.entriesRejected += split.rejected.length;
    for (const entries of split.batches) {
      const seq = this.nextSeq;
      // One sequence space per session, shared by all targets: a message encoded once goes to each.
      const payload = encodeDatagram({ type: 'state', ...header, epoch: this.options.epoch, seq, entries }, this.options.auth);
      if (isFlowStateEncodeError(payload)) {
        this.count.entriesRejected += entries.length;
        continue;
      }
      this.nextSeq = (this.nextSeq + 1) >>> 0;
      for (const target of p.targets) {
        this.track(target, seq, payload, now);
        out.push({ target, payload });
        this.count.messagesSent++;
        this.count.entriesSent += entries.length;
      }
    }
  }

  private track(target: Id, seq: number, payload: Uint8Array, now: number): void {
    let q = this.outstanding.get(target);
    if (q === undefined) this.outstanding.set(target, (q = new Map()));
    if (q.size >= this.maxOutstanding) {
      const oldest = q.values().next();
      if (oldest.done !== true) {
        this.untrack(q, oldest.value);
        this.count.overflowDropped++;
      }
    }
    const o: Outstanding = { target, seq, payload, retries: 0, timeoutMs: this.timeoutMs, deadline: 0, heapPos: -1 };
    q.set(seq, o);
    this.deadlines.push(o, now + this.timeoutMs);
  }

  private untrack(q: Map<number, Outstanding>, o: Outstanding): void {
    q.delete(o.seq);
    this.deadlines.remove(o);
  }

  /** Marks `seqs` acknowledged by `from`; returns how many were outstanding. */
  onAck(from: Id, seqs: readonly number[], _now: number): number {
    const q = this.outstanding.get(from);
    let n = 0;
    for (const s of seqs) {
      const o = q?.get(s);
      if (o !== undefined) {
        this.untrack(q!, o);
        n++;
      } else this.count.duplicateAcks++;
    }
    if (q !== undefined && q.size === 0) this.outstanding.delete(from);
    this.count.acked += n;
    return n;
  }

  /** An ACK as decoded: applied only if it acknowledges this host's current session. */
  onAckMessage(m: AckMessage, now: number): number {
    if (m.ackedSender !== this.options.hostId || m.ackedEpoch !== this.options.epoch) {
      this.count.acksIgnored++;
      return 0;
    }
    return this.onAck(m.sender, m.seqs, now);
  }

  /** Retransmits what is due (timeout doubling each time) and gives up on what ran out of retries. */
  poll(now: number): OutboundDatagram[] {
    const out: OutboundDatagram[] = [];
    const due: Outstanding[] = [];
    for (let o = this.deadlines.peek(); o !== undefined && o.deadline <= now; o = this.deadlines.peek()) {
      this.deadlines.remove(o);
      due.push(o);
    }
    for (const o of due) {
      if (o.retries >= this.maxRetries) {
        const q = this.outstanding.get(o.target)!;
        q.delete(o.seq);
        if (q.size === 0) this.outstanding.delete(o.target);
        this.count.lost++;
        continue;
      }
      o.retries++;
      o.timeoutMs *= 2;
      this.deadlines.push(o, now + o.timeoutMs);
      out.push({ target: o.target, payload: o.payload });
      this.count.retransmitted++;
    }
    return out;
  }

  /** When `poll` next has work, or undefined when nothing is outstanding. */
  nextDeadline(): number | undefined {
    return this.deadlines.peek()?.deadline;
  }

  /** Drops what is outstanding for a host that left (its session ended): no point retrying. */
  forgetTarget(target: Id): void {
    const q = this.outstanding.get(target);
    if (q === undefined) return;
    this.count.abandoned += q.size;
    for (const o of q.values()) this.deadlines.remove(o);
    this.outstanding.delete(target);
  }

  outstandingCount(target?: Id): number {
    if (target !== undefined) return this.outstanding.get(target)?.size ?? 0;
    let n = 0;
    for (const q of this.outstanding.values()) n += q.size;
    return n;
  }

  counters(): Readonly<PushSenderCounters> {
    return { ...this.count };
  }
}
