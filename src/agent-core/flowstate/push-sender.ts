// The sending half of the confirmed flow-state push (DESIGN: Flow state, Push: "receivers acknowledge
// and the sender retransmits a bounded number of times"). A pure state machine: time comes in as
// `now` (ms), datagrams go out as values; the shell (udp-transport.ts) owns the socket and the timer.
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
  readonly payload: Uint8Array;
  retries: number;
  timeoutMs: number;
  deadline: number;
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
    const sorted = [...new Set(targets)].sort();
    const key = JSON.stringify([push.ingressPortId, push.egressPortIds, sorted]);
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
      const oldest = q.keys().next();
      if (oldest.done !== true) {
        q.delete(oldest.value);
        this.count.overflowDropped++;
      }
    }
    q.set(seq, { payload, retries: 0, timeoutMs: this.timeoutMs, deadline: now + this.timeoutMs });
  }

  /** Marks `seqs` acknowledged by `from`; returns how many were outstanding. */
  onAck(from: Id, seqs: readonly number[], _now: number): number {
    const q = this.outstanding.get(from);
    let n = 0;
    for (const s of seqs) {
      if (q !== undefined && q.delete(s)) n++;
      else this.count.duplicateAcks++;
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
    for (const [target, q] of this.outstanding) {
      for (const [seq, o] of q) {
        if (o.deadline > now) continue;
        if (o.retries >= this.maxRetries) {
          q.delete(seq);
          this.count.lost++;
          continue;
        }
        o.retries++;
        o.timeoutMs *= 2;
        o.deadline = now + o.timeoutMs;
        out.push({ target, payload: o.payload });
        this.count.retransmitted++;
      }
      if (q.size === 0) this.outstanding.delete(target);
    }
    return out;
  }

  /** When `poll` next has work, or undefined when nothing is outstanding. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const q of this.outstanding.values()) {
      for (const o of q.values()) if (min === undefined || o.deadline < min) min = o.deadline;
    }
    return min;
  }

  /** Drops what is outstanding for a host that left (its session ended): no point retrying. */
  forgetTarget(target: Id): void {
    const q = this.outstanding.get(target);
    if (q === undefined) return;
    this.count.abandoned += q.size;
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
