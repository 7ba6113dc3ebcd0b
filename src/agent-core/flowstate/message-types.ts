// Flow-state messages as values: the entries a host pushes (conntrack keys, NAT bindings), the STATE
// and ACK messages that carry them, their limits and their typed errors (DESIGN: Flow state, Push).
import type { IpAddr } from '../packet/index.js';
import type { NatBinding } from '../simulation/index.js';
import type { Id } from '../topology/index.js';

/** "TGFS": tells a flow-state message from a stray datagram before anything else is read. */
export const FLOWSTATE_MAGIC = 0x54474653;
export const FLOWSTATE_VERSION = 1;

export const MessageType = { State: 1, Ack: 2 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Flags byte: an authentication tag trails the message. Other bits are ignored on receive. */
export const FLAG_TAG = 0x01;

/** HMAC-SHA256 truncated to 128 bits (RFC 2104 5 allows truncation to no less than half the hash). */
export const TAG_LEN = 16;
/** magic, version, type, flags, reserved, epoch. */
export const FIXED_HEADER_LEN = 12;

/**
 * The shortest message that encodes: the fixed header, a one-byte sender and the smallest body (STATE:
 * seq, empty ingress, no egress, no entries; ACK: one-byte acked sender, epoch, no seqs; 8 bytes each).
 * It exceeds an Ethernet header, so a message carried as a tunnel's inner frame needs no padding.
 */
export const MIN_MESSAGE_BYTES = FIXED_HEADER_LEN + 2 + 8;

/** Datagram budget (VXLAN header + message + tag): fits a 1500-byte MTU with room for outer headers. */
export const MAX_DATAGRAM_BYTES = 1400;
export const MAX_ENTRIES_PER_MESSAGE = 255;
export const MAX_EGRESS_PORTS = 32;
export const MAX_ACK_SEQS = 128;
/** Ids (host, port, device) are length-prefixed by one byte. */
export const MAX_ID_BYTES = 255;
export const MAX_KEY_BYTES = 512;
export const MAX_LIFETIME_MS = 0xffffffff;

/** Idle lifetime hint when the pusher gives none (DESIGN: Flow state, Expiry: "about a minute"). */
export const DEFAULT_STATE_LIFETIME_MS = 60_000;

export const EntryKind = { Conntrack: 1, Nat: 2 } as const;

/** One conntrack key or NAT binding as pushed: the shape of StateChange plus a lifetime hint. */
export type FlowStateEntry =
  | { readonly kind: 'conntrack'; readonly key: string; readonly lifetimeMs: number }
  | {
      readonly kind: 'nat';
      readonly key: string;
      readonly binding: NatBinding;
      readonly deviceId: Id;
      readonly leasedIp?: IpAddr;
      readonly lifetimeMs: number;
    };

/** Fields common to every message: who sent it and in which of its sessions (sequence space). */
export interface MessageHeader {
  readonly sender: Id;
  /** Chosen at each start of the sender, so a restarted host's sequence numbers are not taken for duplicates. */
  readonly epoch: number;
}

export interface StateMessage extends MessageHeader {
  readonly type: 'state';
  readonly seq: number;
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
  readonly entries: readonly FlowStateEntry[];
}

export interface AckMessage extends MessageHeader {
  readonly type: 'ack';
  /** The host whose STATE messages are acknowledged, and the session they were sent in. */
  readonly ackedSender: Id;
  readonly ackedEpoch: number;
  readonly seqs: readonly number[];
}

export type FlowStateMessage = StateMessage | AckMessage;

export const FlowStateDecodeReason = {
  /** Not VXLAN (I flag clear, RFC 7348 5) or not the flow-state key. */
  NotVxlan: 'not-vxlan',
  WrongVni: 'wrong-vni',
  BadMagic: 'bad-magic',
  UnknownVersion: 'unknown-version',
  UnknownType: 'unknown-type',
  Truncated: 'truncated',
  /** A length or count out of its range, or bytes left over after the message. */
  BadLength: 'bad-length',
  TooManyEntries: 'too-many-entries',
  /** A string that is not well-formed UTF-8. */
  BadString: 'bad-string',
  /** An unknown entry kind or address family. */
  BadValue: 'bad-value',
  /** A cluster key is configured and the message carries no tag. */
  MissingTag: 'missing-tag',
  BadTag: 'bad-tag',
} as const;
export type FlowStateDecodeReason = (typeof FlowStateDecodeReason)[keyof typeof FlowStateDecodeReason];

export interface FlowStateDecodeError {
  readonly kind: 'flowStateDecodeError';
  readonly reason: FlowStateDecodeReason;
  /** Byte offset in the message where the problem was found. */
  readonly offset: number;
}

export function flowStateDecodeError(reason: FlowStateDecodeReason, offset: number): FlowStateDecodeError {
  return { kind: 'flowStateDecodeError', reason, offset };
}

export function isFlowStateDecodeError(x: unknown): x is FlowStateDecodeError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'flowStateDecodeError';
}

export function isAuthFailure(e: FlowStateDecodeError): boolean {
  return e.reason === FlowStateDecodeReason.MissingTag || e.reason === FlowStateDecodeReason.BadTag;
}

export const FlowStateEncodeReason = {
  /** An id or key that is empty where it may not be, too long, or not well-formed UTF-16. */
  BadString: 'bad-string',
  BadNumber: 'bad-number',
  BadAddress: 'bad-address',
  TooManyEntries: 'too-many-entries',
  /** The message cannot fit the datagram budget (a header too large, or one entry too large alone). */
  TooLarge: 'too-large',
} as const;
export type FlowStateEncodeReason = (typeof FlowStateEncodeReason)[keyof typeof FlowStateEncodeReason];

export interface FlowStateEncodeError {
  readonly kind: 'flowStateEncodeError';
  readonly reason: FlowStateEncodeReason;
  /** Which field was refused. */
  readonly field: string;
}

export function flowStateEncodeError(reason: FlowStateEncodeReason, field: string): FlowStateEncodeError {
  return { kind: 'flowStateEncodeError', reason, field };
}

export function isFlowStateEncodeError(x: unknown): x is FlowStateEncodeError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'flowStateEncodeError';
}

/**
 * Computes and checks message tags. The pure codec only calls it; the keyed HMAC lives in the shell
 * (hmac.ts, node:crypto). `verify` must compare in constant time.
 */
export interface MessageAuthenticator {
  tag(data: Uint8Array): Uint8Array;
  verify(data: Uint8Array, tag: Uint8Array): boolean;
}
