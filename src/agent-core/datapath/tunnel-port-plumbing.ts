// Plumbing the VXLAN and GRE ports share around their own socket code: the ordered send queue with
// its defaults, and the hand-over of a received batch (DESIGN: Tunnels; The packet's way, steps 1 and 3).
import { type TransmitSlice, TunnelSendQueue } from './tunnel-send-queue.js';
import type { TunnelFrame, TunnelStats } from './tunnel-port.js';

/** Frames sent before yielding to the event loop, unless a port's options say otherwise. */
export const TUNNEL_SEND_CHUNK_DEFAULT = 128;
/** Frames waiting to be sent at most, unless a port's options say otherwise. */
export const TUNNEL_MAX_QUEUED_FRAMES_DEFAULT = 65536;

/** A port's send queue; frames it drops (full, or closed first) count as stats.sendQueueDropped. */
export function tunnelSendQueue(
  opts: { readonly sendChunk?: number; readonly maxQueuedFrames?: number },
  stats: TunnelStats,
  transmit: TransmitSlice,
): TunnelSendQueue {
  return new TunnelSendQueue({
    chunkSize: opts.sendChunk ?? TUNNEL_SEND_CHUNK_DEFAULT,
    maxQueuedFrames: opts.maxQueuedFrames ?? TUNNEL_MAX_QUEUED_FRAMES_DEFAULT,
    transmit,
    onDropped: (n) => {
      stats.sendQueueDropped += n;
    },
  });
}

/** Hands a non-empty received batch to the port's callback, or counts it as unhandled when none is set (it was unset meanwhile). */
export function deliverTunnelBatch(batch: TunnelFrame[], onFrames: ((batch: TunnelFrame[]) => void) | undefined, stats: TunnelStats): void {
  if (onFrames === undefined) {
    stats.unhandledDropped += batch.length;
    return;
  }
  stats.received += batch.length;
  stats.batches++;
  onFrames(batch);
}
