// Shell: the flow-state push (DESIGN: Flow state, Push; Tunnels: VXLAN, RFC 7348, key 0xFFFFFF) over
// the agent's tunnel (a FlowStateChannel) or its own UDP socket (port 6677 by default; the same bytes
// on the wire). Owns the retransmission timer around PushSender/PushReceiver.
import { randomBytes } from 'node:crypto';
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { VXLAN_PORT_TOLLGATE } from '../packet/index.js';
import type { StateChange } from '../simulation/index.js';
import type { Id } from '../topology/index.js';
import type { FlowStateChannel } from './flow-state-channel.js';
import { createHmacAuthenticator } from './hmac.js';
import { datagramMessage } from './message-codec.js';
import type { FlowStateEntry } from './message-types.js';
import { type FlowStatePush, type OutboundDatagram, PushSender, type PushSenderCounters } from './push-sender.js';
import { PushReceiver, type PushReceiverCounters, type ReceiveResult } from './push-receiver.js';

export interface PeerAddress {
  /** The host's tunnel IP. */
  readonly address: string;
  /** Own-socket mode only. Default: VXLAN_PORT_TOLLGATE. */
  readonly port?: number;
}

/** A batch of state imported from a peer: apply `changes` with LocalTables.apply. */
export interface ImportedState {
  readonly sender: Id;
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
  readonly changes: readonly StateChange[];
  /** The same state with each entry's lifetime hint. */
  readonly entries: readonly FlowStateEntry[];
}

/** For tests only: lets a test lose datagrams on the way in, without touching the protocol. */
export interface TransportTestHooks {
  /** Return true to drop a received datagram (own socket) or message (channel) before it is decoded. */
  dropIncoming?(payload: Uint8Array, from: PeerAddress): boolean;
}

export interface FlowStateTransportOptions {
  readonly hostId: Id;
  /**
   * Messages go through this channel (the agent's tunnel: datapathFlowStateChannel) instead of a socket
   * of the transport's own; then bindAddress and port must not be given.
   */
  readonly channel?: FlowStateChannel;
  /** Own socket only. Default '0.0.0.0' (an address with ':' binds IPv6). */
  readonly bindAddress?: string;
  /** Own socket only. Default VXLAN_PORT_TOLLGATE; 0 picks a free port. */
  readonly port?: number;
  /** With a key, every message is tagged and untagged or mistagged ones are dropped. */
  readonly clusterKey?: string | Uint8Array;
  /** Where a host's tunnel endpoint is (its tunnel IP from the store; the port only matters with an own socket). */
  readonly resolvePeer: (hostId: Id) => PeerAddress | undefined;
  readonly onImport: (imported: ImportedState) => void;
  /** Session number; default random. */
  readonly epoch?: number;
  /** Monotonic milliseconds; default performance.now. */
  readonly clock?: () => number;
  readonly retransmitTimeoutMs?: number;
  readonly maxRetries?: number;
  readonly maxOutstandingPerTarget?: number;
  readonly maxDatagramBytes?: number;
  readonly dedupWindow?: number;
  readonly logger?: Logger;
  readonly testHooks?: TransportTestHooks;
}

export interface TransportCounters {
  /** Datagrams the socket failed to send, or sends the channel threw on. */
  sendErrors: number;
  /** Datagrams not sent because the target host's address is unknown (they stay outstanding). */
  unknownPeers: number;
  droppedByTestHook: number;
  /** onImport callbacks that threw (the message is still acknowledged: it was received). */
  importErrors: number;
  /** Messages the channel delivered while the transport was stopped (an own socket is closed then). */
  receivedWhileStopped: number;
}

export type FlowStateCounters = PushSenderCounters & PushReceiverCounters & TransportCounters;

export class FlowStateTransportNotRunning extends Error {
  constructor() {
    super('flow-state transport is not started');
    this.name = 'FlowStateTransportNotRunning';
  }
}

/** address() of a transport that runs over a channel: it has no socket of its own. */
export class FlowStateTransportHasNoSocket extends Error {
  constructor() {
    super('flow-state transport runs over a channel and has no socket address');
    this.name = 'FlowStateTransportHasNoSocket';
  }
}

/** Logs at most one line per interval for a repeating problem, with how many were suppressed. */
class RateLimitedWarn {
  private last = -Infinity;
  private suppressed = 0;
  constructor(private readonly intervalMs: number) {}
  warn(log: Logger | undefined, now: number, obj: object, msg: string): void {
    if (log === undefined) return;
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    log.warn({ ...obj, suppressed: this.suppressed }, msg);
    this.last = now;
    this.suppressed = 0;
  }
}

export class FlowStateTransport {
  private readonly sender: PushSender;
  private readonly receiver: PushReceiver;
  private readonly clock: () => number;
  private readonly log: Logger | undefined;
  private socket: Socket | undefined;
  private readonly channel: FlowStateChannel | undefined;
  private channelRunning = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly sendWarn = new RateLimitedWarn(10_000);
  private readonly count: TransportCounters = {
    sendErrors: 0, unknownPeers: 0, droppedByTestHook: 0, importErrors: 0, receivedWhileStopped: 0,
  };
  readonly epoch: number;

  constructor(private readonly options: FlowStateTransportOptions) {
    if (options.channel !== undefined && (options.bindAddress !== undefined || options.port !== undefined)) {
      throw new TypeError('flow-state transport: give either a channel or bindAddress/port, not both');
    }
    this.channel = options.channel;
    const auth = options.clusterKey !== undefined ? createHmacAuthenticator(options.clusterKey) : undefined;
    this.epoch = options.epoch ?? randomBytes(4).readUInt32BE(0);
    this.clock = options.clock ?? (() => performance.now());
    this.log = options.logger?.child({ component: 'flowstate' });
    this.sender = new PushSender({
      hostId: options.hostId, epoch: this.epoch, auth, retransmitTimeoutMs: options.retransmitTimeoutMs,
      maxRetries: options.maxRetries, maxOutstandingPerTarget: options.maxOutstandingPerTarget,
      maxDatagramBytes: options.maxDatagramBytes,
    });
    this.receiver = new PushReceiver({ hostId: options.hostId, epoch: this.epoch, auth, dedupWindow: options.dedupWindow });
  }

  get running(): boolean {
    return this.socket !== undefined || this.channelRunning;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (this.channel !== undefined) {
      this.channel.onReceive((remoteIp, message) => this.onChannelMessage(remoteIp, message));
      this.channelRunning = true;
      this.log?.info({ epoch: this.epoch }, 'flow-state transport started on the tunnel channel');
      this.schedule();
      return;
    }
    const bindAddress = this.options.bindAddress ?? '0.0.0.0';
    const socket = createSocket({ type: bindAddress.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      socket.once('error', onError);
      socket.bind(this.options.port ?? VXLAN_PORT_TOLLGATE, bindAddress, () => {
        socket.off('error', onError);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => this.log?.error({ err }, 'flow-state socket error'));
    this.socket = socket;
    this.log?.info({ address: socket.address(), epoch: this.epoch }, 'flow-state transport started');
    this.schedule();
  }

  /**
   * Closes the own socket (a channel stays open: its owner closes it; what it delivers meanwhile is
   * counted and dropped) and stops retransmitting; unacknowledged messages stay queued for a restart.
   */
  async stop(): Promise<void> {
    if (this.channelRunning) {
      this.channelRunning = false;
      this.clearTimer();
      this.log?.info('flow-state transport stopped');
      return;
    }
    const socket = this.socket;
    if (socket === undefined) return;
    this.socket = undefined;
    this.clearTimer();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.log?.info('flow-state transport stopped');
  }

  /** The own socket's address; throws FlowStateTransportHasNoSocket in channel mode. */
  address(): { address: string; port: number } {
    if (this.channel !== undefined) throw new FlowStateTransportHasNoSocket();
    if (this.socket === undefined) throw new FlowStateTransportNotRunning();
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Sends the push to the targets now (ahead of the data packet); returns the datagrams sent. */
  pushFlowState(push: FlowStatePush, targets: readonly Id[]): number {
    this.sender.enqueue(push, targets);
    return this.flush();
  }

  /** Queues a push to share messages with others queued before the next flush. */
  enqueue(push: FlowStatePush, targets: readonly Id[]): void {
    this.sender.enqueue(push, targets);
  }

  flush(): number {
    if (!this.running) throw new FlowStateTransportNotRunning();
    const out = this.sender.flush(this.clock());
    this.sendAll(out);
    this.schedule();
    return out.length;
  }

  /** A host left the cluster: stop retrying messages to it. */
  forgetPeer(hostId: Id): void {
    this.sender.forgetTarget(hostId);
    this.schedule();
  }

  outstanding(hostId?: Id): number {
    return this.sender.outstandingCount(hostId);
  }

  counters(): FlowStateCounters {
    return { ...this.sender.counters(), ...this.receiver.counters(), ...this.count };
  }

  private sendAll(out: readonly OutboundDatagram[]): void {
    for (const d of out) {
      const peer = this.options.resolvePeer(d.target);
      if (peer === undefined) {
        this.count.unknownPeers++;
        continue;
      }
      if (this.channel !== undefined) this.sendOnChannel(peer.address, d.payload);
      else this.sendTo(peer.address, peer.port ?? VXLAN_PORT_TOLLGATE, d.payload);
    }
  }

  /** The channel carries the message alone: the tunnel writes the VXLAN header the datagram has. */
  private sendOnChannel(remoteIp: string, datagram: Uint8Array): void {
    if (!this.channelRunning || this.channel === undefined) return;
    try {
      this.channel.send(remoteIp, datagramMessage(datagram));
    } catch (err) {
      this.count.sendErrors++;
      this.sendWarn.warn(this.log, this.clock(), { err, remoteIp }, 'flow-state send failed');
    }
  }

  private sendTo(address: string, port: number, payload: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) return;
    socket.send(payload, port, address, (err) => {
      if (err === null || err === undefined) return;
      this.count.sendErrors++;
      this.sendWarn.warn(this.log, this.clock(), { err, address, port }, 'flow-state send failed');
    });
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const payload = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    if (this.options.testHooks?.dropIncoming?.(payload, { address: rinfo.address, port: rinfo.port }) === true) {
      this.count.droppedByTestHook++;
      return;
    }
    // Replies go to where the message came from: the sender listens on the socket it sends from.
    this.handle(this.receiver.onDatagram(payload), (ack) => this.sendTo(rinfo.address, rinfo.port, ack));
  }

  private onChannelMessage(remoteIp: string, message: Uint8Array): void {
    if (!this.channelRunning) {
      this.count.receivedWhileStopped++;
      return;
    }
    if (this.options.testHooks?.dropIncoming?.(message, { address: remoteIp }) === true) {
      this.count.droppedByTestHook++;
      return;
    }
    this.handle(this.receiver.onMessage(message), (ack) => this.sendOnChannel(remoteIp, ack));
  }

  /** Applies an ACK to the sender, or imports a STATE message and returns its ACK through `reply`. */
  private handle(r: ReceiveResult, reply: (ackDatagram: Uint8Array) => void): void {
    if (r.kind === 'ack') {
      this.sender.onAckMessage(r.message, this.clock());
      this.schedule();
      return;
    }
    if (r.kind !== 'state') return;
    if (!r.duplicate && r.changes.length > 0) {
      try {
        this.options.onImport({
          sender: r.message.sender, ingressPortId: r.message.ingressPortId, egressPortIds: r.message.egressPortIds,
          changes: r.changes, entries: r.message.entries,
        });
      } catch (err) {
        this.count.importErrors++;
        this.log?.error({ err, sender: r.message.sender }, 'importing flow state failed');
      }
    }
    if (r.ack !== undefined) reply(r.ack);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Arms the timer for the sender's next deadline (earlier than the armed one, if any). */
  private schedule(): void {
    const deadline = this.sender.nextDeadline();
    if (deadline === undefined || !this.running) {
      this.clearTimer();
      return;
    }
    if (this.timer !== undefined && this.timerAt <= deadline) return;
    this.clearTimer();
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, Math.ceil(deadline - this.clock())));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.sendAll(this.sender.poll(this.clock()));
    this.schedule();
  }
}
