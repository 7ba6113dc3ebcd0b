// The receiving half of the flow-state push (DESIGN: Flow state, Push; The packet's way, step 3: key
// 0xFFFFFF is imported): decode, authenticate, deduplicate, turn entries into state changes for
// LocalTables.apply, and produce the ACK. Pure: bytes in, values out.
import type { StateChange } from '../simulation/index.js';
import type { Id } from '../topology/index.js';
import { DedupWindow } from './dedup-window.js';
import { stateChangeOf } from './entries.js';
import { decodeDatagram, decodeMessage, encodeDatagram } from './message-codec.js';
import {
  type AckMessage, type FlowStateDecodeError, type FlowStateDecodeReason, type FlowStateMessage, type MessageAuthenticator,
  type StateMessage, isAuthFailure, isFlowStateDecodeError, isFlowStateEncodeError,
} from './message-types.js';

export interface PushReceiverOptions {
  readonly hostId: Id;
  /** This host's session number, put in the header of the ACKs it sends. */
  readonly epoch: number;
  readonly auth?: MessageAuthenticator;
  /** Sequence numbers remembered per sender session. */
  readonly dedupWindow?: number;
  /** Sender sessions remembered (least recently heard forgotten first). */
  readonly maxSenders?: number;
}

export type ReceiveDropReason = FlowStateDecodeReason | 'own-message';

export type ReceiveResult =
  | {
      readonly kind: 'state';
      readonly message: StateMessage;
      /** To apply to the local tables; empty for a duplicate. */
      readonly changes: readonly StateChange[];
      readonly duplicate: boolean;
      /**
       * The ACK datagram (UDP payload: VXLAN header + message; datagramMessage gives the message) to
       * return to the sender; duplicates are acknowledged again.
       */
      readonly ack: Uint8Array | undefined;
    }
  /** An ACK for this host's own pushes: the shell hands it to its PushSender. */
  | { readonly kind: 'ack'; readonly message: AckMessage }
  | { readonly kind: 'dropped'; readonly reason: ReceiveDropReason };

export interface PushReceiverCounters {
  /** STATE messages accepted (duplicates included). */
  received: number;
  entriesImported: number;
  duplicates: number;
  /** Dropped with a cluster key configured: tag missing or wrong. */
  badAuth: number;
  /** Dropped as undecodable (not VXLAN, wrong key, bad magic, version, lengths, ...). */
  malformed: number;
  acksReceived: number;
  /** ACKs produced for the shell to send (one per STATE message, duplicates included). */
  acksSent: number;
  /** Our own messages looped back. */
  ownMessages: number;
}

export class PushReceiver {
  private readonly dedup: DedupWindow;
  private readonly count: PushReceiverCounters = {
    received: 0, entriesImported: 0, duplicates: 0, badAuth: 0, malformed: 0, acksReceived: 0, acksSent: 0, ownMessages: 0,
  };

  constructor(private readonly options: PushReceiverOptions) {
    this.dedup = new DedupWindow(options.dedupWindow, options.maxSenders);
  }

  /** Handles one UDP payload received on the flow-state socket: VXLAN header (key 0xFFFFFF) + message. */
  onDatagram(payload: Uint8Array): ReceiveResult {
    return this.accept(decodeDatagram(payload, this.options.auth));
  }

  /** Handles one message without VXLAN header, as a tunnel port delivers the inner frame of key 0xFFFFFF. */
  onMessage(message: Uint8Array): ReceiveResult {
    return this.accept(decodeMessage(message, this.options.auth));
  }

  private accept(m: FlowStateMessage | FlowStateDecodeError): ReceiveResult {
    if (isFlowStateDecodeError(m)) {
      if (isAuthFailure(m)) this.count.badAuth++;
      else this.count.malformed++;
      return { kind: 'dropped', reason: m.reason };
    }
    if (m.sender === this.options.hostId) {
      this.count.ownMessages++;
      return { kind: 'dropped', reason: 'own-message' };
    }
    if (m.type === 'ack') {
      this.count.acksReceived++;
      return { kind: 'ack', message: m };
    }
    this.count.received++;
    const duplicate = this.dedup.checkAndRecord(m.sender, m.epoch, m.seq);
    const ack = this.ackFor(m);
    let changes: StateChange[] = [];
    if (duplicate) this.count.duplicates++;
    else {
      changes = m.entries.map(stateChangeOf);
      this.count.entriesImported += changes.length;
    }
    return { kind: 'state', message: m, changes, duplicate, ack };
  }

  private ackFor(m: StateMessage): Uint8Array | undefined {
    const ack = encodeDatagram(
      { type: 'ack', sender: this.options.hostId, epoch: this.options.epoch, ackedSender: m.sender, ackedEpoch: m.epoch, seqs: [m.seq] },
      this.options.auth,
    );
    // Only a host id that cannot be encoded gets here; the sender will retry and count the loss.
    if (isFlowStateEncodeError(ack)) return undefined;
    this.count.acksSent++;
    return ack;
  }

  counters(): Readonly<PushReceiverCounters> {
    return { ...this.count };
  }
}
