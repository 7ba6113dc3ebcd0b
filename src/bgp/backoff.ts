// Restart delays of a supervised process: exponential from `initialMs`, capped, and forgotten once
// the process stayed up for `stableMs`. Pure. DESIGN: BGP (a crash costs a restart and a re-sync).

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  readonly factor?: number;
  /** A run at least this long resets the failure count. */
  readonly stableMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 200, maxMs: 30_000, factor: 2, stableMs: 60_000 };

/** Delay before restart number `failures + 1` after `failures` consecutive short runs. */
export function backoffDelay(failures: number, options: BackoffOptions = {}): number {
  const o = { ...DEFAULT_BACKOFF, ...options };
  const n = Math.max(0, Math.floor(failures));
  // Cap the exponent too: factor ** 1000 is Infinity.
  return Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(n, 64));
}
