// The overlay tunnel port contract shared by VXLAN/UDP and GRE: frames with a 24-bit tunnel key to
// and from remote hosts, batched both ways (DESIGN: Tunnels; The packet's way, steps 1 and 3).
import { TUNNEL_KEY_FLOW_STATE } from '../packet/constants.js';
import { formatIp4, formatIp6, parseIp4, parseIp6 } from '../packet/addr.js';

/** The largest tunnel key: 24 bits (the VXLAN VNI; the low 24 bits of the GRE key). */
export const TUNNEL_KEY_MAX = TUNNEL_KEY_FLOW_STATE;

/** Shortest inner frame carried either way: an Ethernet header (RFC 7348 5 carries a whole L2 frame). */
export const TUNNEL_MIN_INNER_FRAME = 14;

export interface TunnelFrame {
  /** The inner Ethernet frame. Received frames own their bytes (no buffer is reused). */
  readonly innerFrame: Uint8Array;
  /** 0 .. TUNNEL_KEY_MAX: a port's key, TUNNEL_KEY_FLOW_STATE, or a key with TUNNEL_KEY_TRACE_BIT. */
  readonly tunnelKey: number;
  /** The underlay address of the other host: dotted IPv4 or RFC 5952 IPv6 text. */
  readonly remoteIp: string;
}

export interface TunnelStats {
  /** Encapsulated frames the kernel accepted. */
  sent: number;
  /** Frames handed to onFrames. */
  received: number;
  /** Received datagrams dropped as malformed: short, bad flags/version/protocol, bad checksum, tiny inner frame. */
  malformedDropped: number;
  /** Received datagrams from an address outside the port's remotes (see setRemotes). */
  unknownRemoteDropped: number;
  /** Frames not sent: invalid (key out of range, inner frame shorter than Ethernet, bad address) or refused by the kernel. */
  sendErrors: number;
  /** Frames not sent because the send queue was full or the port closed first. */
  sendQueueDropped: number;
  /** Valid frames received while no onFrames callback was set. */
  unhandledDropped: number;
  /** onFrames calls. */
  batches: number;
}

export type TunnelKind = 'vxlan' | 'gre';

/**
 * One tunnel endpoint of this host. Sends keep their order across send() calls (one queue a port),
 * go out in chunks with a turn of the event loop between them, and never throw for a bad frame:
 * what fails is counted in stats().
 */
export interface TunnelPort {
  readonly kind: TunnelKind;
  /** Address the port receives on ('0.0.0.0' or '::' for any). */
  readonly localAddress: string;
  /** UDP port for VXLAN; undefined for GRE. */
  readonly localPort: number | undefined;
  /** Queues frames for sending; resolves with how many the kernel accepted once all were tried. */
  send(frames: readonly TunnelFrame[]): Promise<number>;
  /** Starts delivery of received frames in batches; replaces an earlier callback. cb must not throw. */
  onFrames(cb: (batch: TunnelFrame[]) => void): void;
  /** Socket errors after open (rare: for logs; per-frame failures are counted in stats instead). */
  onError(cb: (err: TunnelError) => void): void;
  /**
   * Accept only these underlay sources (others count as unknownRemoteDropped); undefined = any.
   * Throws TypeError for an entry that is not an IP address (a configuration error).
   */
  setRemotes(remotes: Iterable<string> | undefined): void;
  stats(): TunnelStats;
  /** Stops receiving, drops what is still queued (sendQueueDropped) and closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** A tunnel socket that could not be opened or used, with the errno name when there is one. */
export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  constructor(
    message: string,
    readonly code: string,
    readonly kind: TunnelKind,
  ) {
    super(message);
  }
}

export function emptyTunnelStats(): TunnelStats {
  return {
    sent: 0,
    received: 0,
    malformedDropped: 0,
    unknownRemoteDropped: 0,
    sendErrors: 0,
    sendQueueDropped: 0,
    unhandledDropped: 0,
    batches: 0,
  };
}

export function isValidTunnelKey(key: number): boolean {
  return Number.isInteger(key) && key >= 0 && key <= TUNNEL_KEY_MAX;
}

const V4_MAPPED_PREFIX = '::ffff:';

/**
 * The canonical text of an underlay address (IPv4 dotted, IPv6 per RFC 5952, IPv4-mapped IPv6 as
 * IPv4), or undefined when it is not an address. Received addresses and remotes compare in this form.
 */
export function canonicalTunnelIp(text: string): string | undefined {
  if (!text.includes(':')) {
    const v4 = parseIp4(text);
    return v4 === undefined ? undefined : formatIp4(v4);
  }
  const v6 = parseIp6(text);
  if (v6 === undefined) return undefined;
  return v6 >> 32n === 0xffffn ? formatIp4(Number(v6 & 0xffffffffn)) : formatIp6(v6);
}

/**
 * A source address as the kernel reports it, in canonical form. The kernel's text is already
 * canonical except for IPv4-mapped sources on a dual-stack socket, so the common case costs nothing.
 */
export function receivedTunnelIp(kernelText: string): string {
  if (kernelText.startsWith(V4_MAPPED_PREFIX) && kernelText.includes('.')) return kernelText.slice(V4_MAPPED_PREFIX.length);
  return kernelText;
}

/** The remote filter of a port: undefined accepts any source. Throws TypeError for a non-address. */
export function remoteSet(remotes: Iterable<string> | undefined): Set<string> | undefined {
  if (remotes === undefined) return undefined;
  const set = new Set<string>();
  for (const r of remotes) {
    const c = canonicalTunnelIp(r);
    if (c === undefined) throw new TypeError(`not an IP address: ${r}`);
    set.add(c);
  }
  return set;
}
