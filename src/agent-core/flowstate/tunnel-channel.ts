// Flow-state channels over the agent's tunnel (DESIGN: The packet's way, step 3; Flow state, Push;
// Tunnels: key 0xFFFFFF, RFC 7348 5): a message is the inner frame of a tunnel frame with that key.
// Whoever owns the tunnel port's onFrames (the datapath) demultiplexes; these adapters never take it.
// The datapath's contract files directly, not its index: that would load the AF_PACKET addon and the worker.
import type { Datapath } from '../datapath/datapath.js';
import { TUNNEL_MIN_INNER_FRAME, type TunnelFrame, type TunnelPort } from '../datapath/tunnel-port.js';
import { TUNNEL_KEY_FLOW_STATE } from '../packet/index.js';
import type { FlowStateChannel } from './flow-state-channel.js';

/** True for a received tunnel frame that carries a flow-state message (hand it to deliver()). */
export function isFlowStateFrame(frame: TunnelFrame): boolean {
  return frame.tunnelKey === TUNNEL_KEY_FLOW_STATE;
}

export interface TunnelChannelCounters {
  /** Messages the tunnel port accepted (sent to the kernel). */
  sent: number;
  /** Messages the tunnel port did not send (queue full, closed, kernel refused); its stats say which. */
  sendFailed: number;
  /** Messages shorter than TUNNEL_MIN_INNER_FRAME, not handed to the port (no valid message is). */
  tooShortDropped: number;
  /** Messages handed to the receiver. */
  received: number;
  /** Messages delivered while no receiver was set. */
  unhandledDropped: number;
  /** Frames given to deliver() whose key is not TUNNEL_KEY_FLOW_STATE (a demultiplexer bug). */
  wrongKeyDropped: number;
}

/** A FlowStateChannel over a TunnelPort; the port's owner feeds it the frames it demultiplexed. */
export interface TunnelPortChannel extends FlowStateChannel {
  /** Called by the demultiplexer for each received frame with key TUNNEL_KEY_FLOW_STATE. */
  deliver(frame: TunnelFrame): void;
  counters(): TunnelChannelCounters;
}

/**
 * Adapts a tunnel port: send() queues the message as the inner frame of a frame with key
 * TUNNEL_KEY_FLOW_STATE on the port's one ordered queue (so a push sent before a data frame leaves
 * before it); deliver() passes received ones on. Only `send` of the port is used.
 */
export function tunnelPortChannel(tunnel: Pick<TunnelPort, 'send'>): TunnelPortChannel {
  const count: TunnelChannelCounters = { sent: 0, sendFailed: 0, tooShortDropped: 0, received: 0, unhandledDropped: 0, wrongKeyDropped: 0 };
  let receiver: ((remoteIp: string, message: Uint8Array) => void) | undefined;
  return {
    send(remoteIp, message) {
      // The tunnel would refuse it too; padding is no way out, since a message must end where its fields end.
      if (message.length < TUNNEL_MIN_INNER_FRAME) {
        count.tooShortDropped++;
        return;
      }
      void tunnel.send([{ innerFrame: message, tunnelKey: TUNNEL_KEY_FLOW_STATE, remoteIp }]).then((n) => {
        if (n === 1) count.sent++;
        else count.sendFailed++;
      });
    },
    onReceive(cb) {
      receiver = cb;
    },
    deliver(frame) {
      if (frame.tunnelKey !== TUNNEL_KEY_FLOW_STATE) {
        count.wrongKeyDropped++;
        return;
      }
      if (receiver === undefined) {
        count.unhandledDropped++;
        return;
      }
      count.received++;
      receiver(frame.remoteIp, frame.innerFrame);
    },
    counters: () => ({ ...count }),
  };
}

/**
 * The channel the agent gives FlowStateTransport: the datapath's flow-state calls, which carry the
 * same message bytes (DpFlowStateDatagram.payload) in tunnel frames with key TUNNEL_KEY_FLOW_STATE.
 */
export function datapathFlowStateChannel(datapath: Pick<Datapath, 'sendFlowState' | 'onFlowState'>): FlowStateChannel {
  return {
    send: (remoteIp, message) => datapath.sendFlowState(remoteIp, message),
    onReceive: (cb) => datapath.onFlowState((d) => cb(d.remoteIp, d.payload)),
  };
}
