// The path flow-state messages take when the agent's tunnel carries them (DESIGN: Flow state, Push;
// Tunnels: key 0xFFFFFF): whole messages to and from a host's tunnel IP, with no socket of their own.

/**
 * Carries flow-state messages between hosts. A message is the bytes of encodeMessage (magic "TGFS"
 * first; no VXLAN header: the tunnel adds its own) and is always at least MIN_MESSAGE_BYTES long,
 * so it passes the tunnel's shortest-inner-frame check unpadded.
 */
export interface FlowStateChannel {
  /** Sends one message to the host at `remoteIp` (its tunnel IP). Must not throw; failures are the channel's to count. */
  send(remoteIp: string, message: Uint8Array): void;
  /** Sets the one receiver of messages from other hosts (replaces an earlier one). `remoteIp` is the sender's tunnel IP. */
  onReceive(cb: (remoteIp: string, message: Uint8Array) => void): void;
}
