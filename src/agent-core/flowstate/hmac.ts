// Shell: the cluster key's message authenticator, HMAC-SHA256 (RFC 2104) truncated to 16 bytes and
// checked in constant time (DESIGN: Flow state, Push: "authenticated with a cluster key").
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type MessageAuthenticator, TAG_LEN } from './message-types.js';

export function createHmacAuthenticator(clusterKey: string | Uint8Array): MessageAuthenticator {
  const key = typeof clusterKey === 'string' ? Buffer.from(clusterKey, 'utf8') : Buffer.from(clusterKey);
  if (key.length === 0) throw new Error('flow-state cluster key is empty');
  const tag = (data: Uint8Array): Uint8Array => {
    const full = createHmac('sha256', key).update(data).digest();
    return new Uint8Array(full.buffer, full.byteOffset, TAG_LEN);
  };
  return {
    tag,
    verify(data: Uint8Array, received: Uint8Array): boolean {
      // The length is not secret; only the comparison of equal-length tags must not leak timing.
      if (received.length !== TAG_LEN) return false;
      return timingSafeEqual(tag(data), received);
    },
  };
}
