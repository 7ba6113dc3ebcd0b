// Flow state (DESIGN: Flow state; Tunnels, key 0xFFFFFF): the wire codec of state messages, the
// interested set, the confirmed push (pure sender and receiver) and its shell over the agent's tunnel
// (a channel) or an own UDP socket. Others import only this.
export * from './message-types.js';
export { encodeMessage, decodeMessage, encodeDatagram, decodeDatagram, datagramMessage } from './message-codec.js';
export { splitIntoBatches, encodedEntrySize, stateHeaderSize, type Batches, type StateHeaderFields } from './batching.js';
export { flowStateEntriesOf, stateChangeOf } from './entries.js';
export { resolveInterestedSet, type InterestedSet, type InterestedSetInput } from './interested-set.js';
export {
  PushSender, type FlowStatePush, type OutboundDatagram, type PushSenderOptions, type PushSenderCounters,
  DEFAULT_RETRANSMIT_TIMEOUT_MS, DEFAULT_MAX_RETRIES, DEFAULT_MAX_OUTSTANDING_PER_TARGET,
} from './push-sender.js';
export {
  PushReceiver, type PushReceiverOptions, type PushReceiverCounters, type ReceiveResult, type ReceiveDropReason,
} from './push-receiver.js';
export { DedupWindow } from './dedup-window.js';
export { createHmacAuthenticator } from './hmac.js';
export type { FlowStateChannel } from './flow-state-channel.js';
export {
  tunnelPortChannel, datapathFlowStateChannel, isFlowStateFrame, type TunnelPortChannel, type TunnelChannelCounters,
} from './tunnel-channel.js';
export {
  FlowStateTransport, FlowStateTransportNotRunning, FlowStateTransportHasNoSocket, type FlowStateTransportOptions,
  type FlowStateCounters, type ImportedState, type PeerAddress, type TransportCounters, type TransportTestHooks,
} from './udp-transport.js';
