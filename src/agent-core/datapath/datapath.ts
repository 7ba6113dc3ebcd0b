// The Datapath contract (DESIGN: The packet's way, steps 1-3 and 6; Threads and isolation): ports,
// flow install/delete, execute a frame with actions, upcalls for misses, stats. The agent's main
// loop owns the simulation and talks to a datapath only through this interface, so that the fast
// path can run in-process, in a worker thread, or (later) in the kernel behind the same calls.
import type { FieldMask, HeaderModification } from '../packet/index.js';
import type { FlowTimeouts } from '../flows/index.js';

/** A host interface the datapath reads and writes frames on (AF_PACKET). */
export interface DpNetdevSpec {
  readonly kind: 'netdev';
  readonly ifname: string;
  /** Open the interface inside this network namespace (a name under /run/netns). */
  readonly netns?: string;
}

export type DpPortSpec = DpNetdevSpec;

/**
 * A datapath action, in order: rewrites accumulate and apply to the frame as each output sends it.
 * `output` sends on a local datapath port; `tunnel` encapsulates with the egress port's key and
 * sends to the host that binds it.
 */
export type DpAction =
  | HeaderModification
  | { readonly kind: 'output'; readonly port: number }
  | { readonly kind: 'tunnel'; readonly remoteIp: string; readonly key: number };

export interface DpFlowSpec {
  /** KEY_WORDS key from extractFlowKey(frame, port, 0, key); only the mask's fields matter. */
  readonly key: Float64Array;
  readonly mask: FieldMask;
  readonly actions: readonly DpAction[];
  /** Invalidation tags (DESIGN: Flows). */
  readonly tags: readonly string[];
  readonly timeouts: FlowTimeouts;
  /**
   * The flow holds only for IP packets up to this length (the path's smallest MTU) when they may
   * not be fragmented (IPv6, IPv4 with DF): the datapath hands a longer one up as an upcall instead
   * (counted in oversizeUpcalls), for the router to answer. Undefined: any length.
   */
  readonly maxIpLength?: number;
}

/** A frame that missed the flow table on a local port: the main loop simulates it. */
export interface DpUpcall {
  readonly port: number;
  /** The frame's own bytes (not a view of a reused ring buffer). */
  readonly frame: Uint8Array;
}

/** A flow-state datagram (tunnel key 0xFFFFFF) received from another host. */
export interface DpFlowStateDatagram {
  readonly remoteIp: string;
  readonly payload: Uint8Array;
}

export interface DatapathPortStats {
  readonly port: number;
  readonly ifname: string;
  readonly rxFrames: number;
  readonly txFrames: number;
  readonly txFailed: number;
  readonly kernelDrops: number;
}

export interface DatapathStats {
  readonly flows: number;
  readonly masks: number;
  /** Frames that matched an installed flow. */
  readonly hits: number;
  /** Frames handed up as upcalls. */
  readonly upcalls: number;
  /** Of the upcalls, frames that matched a flow but were longer than its maxIpLength (the slow path answers them). */
  readonly oversizeUpcalls: number;
  /** Upcalls dropped because the upcall queue was full (the main loop falls behind). */
  readonly upcallQueueDropped: number;
  /** Frames from local ports that could not be parsed into a flow key. */
  readonly malformedDropped: number;
  /** Tunnel frames whose key names no local port. */
  readonly unknownTunnelKeyDropped: number;
  /** Tunnel frames output to a local port by their key (no simulation). */
  readonly tunnelDelivered: number;
  /** Frames sent through the tunnel. */
  readonly tunnelSent: number;
  /** Malformed or unknown-source tunnel datagrams (the tunnel port's own counters). */
  readonly tunnelMalformedDropped: number;
  /** Of those, datagrams from a source outside the accepted remotes (setTunnelRemotes). */
  readonly tunnelUnknownRemoteDropped: number;
  readonly flowsInstalled: number;
  readonly flowsInvalidated: number;
  readonly flowsExpired: number;
  readonly ports: readonly DatapathPortStats[];
}

export interface Datapath {
  /** Opens a host interface as datapath port `port` (>= 1); its frames start flowing at once. */
  addPort(port: number, spec: DpPortSpec): Promise<void>;
  /** Closes the port and removes flows whose key's in-port is it. */
  removePort(port: number): Promise<void>;
  /** Frames arriving through the tunnel with `key` go out on `port` (undefined: forget the key). */
  setTunnelKey(key: number, port: number | undefined): void;
  /** Underlay sources accepted on the tunnel (the hosts in the store); undefined = any. */
  setTunnelRemotes(remotes: readonly string[] | undefined): void;
  installFlow(flow: DpFlowSpec): void;
  /** Removes every flow carrying any of the tags. */
  invalidate(tags: readonly string[]): void;
  /** Removes every flow. */
  flushFlows(): void;
  /** Runs the actions on one frame (the packet of an upcall, or a generated one). */
  execute(frame: Uint8Array, actions: readonly DpAction[]): void;
  /** Sends a flow-state datagram through the tunnel (key 0xFFFFFF). */
  sendFlowState(remoteIp: string, payload: Uint8Array): void;
  onUpcall(cb: (batch: readonly DpUpcall[]) => void): void;
  onFlowState(cb: (datagram: DpFlowStateDatagram) => void): void;
  stats(): Promise<DatapathStats>;
  close(): Promise<void>;
}
