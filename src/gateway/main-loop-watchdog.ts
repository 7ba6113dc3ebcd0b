// The main-loop watchdog of `tollgate agent` (DESIGN: Threads and isolation; BGP — fate sharing).
// The main loop owns the simulation, ZooKeeper and BGP's configuration. If it hangs, the datapath
// thread keeps forwarding established flows and gobgpd keeps its sessions, so upstream routers keep
// sending new connections to a host that can no longer simulate them: a silent blackhole. A thread of
// its own watches a counter the main loop bumps; when it stops moving for `stallMs`, the thread
// writes why to stderr and kills the process, so gobgpd dies with it (its parent-death signal),
// peers withdraw at once and the service manager restarts the agent.
import { Worker } from 'node:worker_threads';

export interface MainLoopWatchdogOptions {
  /** How long the main loop may go without a turn before the process is killed. */
  readonly stallMs: number;
  /** Put in the line written to stderr (the host id). */
  readonly name: string;
}

export interface MainLoopWatchdog {
  /** Stops watching (a clean shutdown). */
  stop(): void;
}

/** Shortest stall the watchdog accepts: below it, ordinary GC pauses would kill healthy agents. */
export const MIN_STALL_MS = 1000;

// Plain JavaScript run by the watchdog thread (eval'd, so it needs no file beside the bundle).
// It never touches the main loop: it sleeps in Atomics.wait, reads the counter, and on a stall
// writes with a synchronous write(2) and sends SIGKILL to its own process.
const WATCHDOG_THREAD = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const beats = new Int32Array(workerData.buffer);
const pause = new Int32Array(new SharedArrayBuffer(4));
let last = Atomics.load(beats, 0);
// Monotonic: a wall-clock step (NTP) must not look like a stall.
let lastChange = performance.now();
for (;;) {
  Atomics.wait(pause, 0, 0, workerData.checkMs);
  if (Atomics.load(beats, 1) !== 0) break;
  const now = performance.now();
  const seen = Atomics.load(beats, 0);
  if (seen !== last) {
    last = seen;
    lastChange = now;
    continue;
  }
  const stalled = now - lastChange;
  if (stalled >= workerData.stallMs) {
    const line = { level: 60, time: Date.now(), name: 'tollgate', host: workerData.name, component: 'watchdog', stalledMs: Math.round(stalled),
      msg: 'the main loop has not run for ' + (stalled / 1000).toFixed(1) + ' s: killing the agent so that gobgpd dies with it and peers and other hosts route around this host' };
    try { writeSync(2, JSON.stringify(line) + '\\n'); } catch {}
    process.kill(process.pid, 'SIGKILL');
  }
}
`;

/**
 * Starts the watchdog thread and the main loop's heartbeat. The heartbeat is a timer: it runs only
 * when the loop turns, which is what is being watched.
 */
export function startMainLoopWatchdog(options: MainLoopWatchdogOptions): MainLoopWatchdog {
  if (!Number.isInteger(options.stallMs) || options.stallMs < MIN_STALL_MS) {
    throw new RangeError(`watchdog: stallMs must be an integer >= ${MIN_STALL_MS} (got ${options.stallMs})`);
  }
  // [0]: heartbeats (wrapping), [1]: set to 1 to stop the thread.
  const buffer = new SharedArrayBuffer(8);
  const beats = new Int32Array(buffer);
  // The thread looks as often as the loop beats.
  const beatMs = Math.min(250, Math.floor(options.stallMs / 4));
  const worker = new Worker(WATCHDOG_THREAD, { eval: true, workerData: { buffer, stallMs: options.stallMs, checkMs: beatMs, name: options.name } });
  worker.unref();
  const heartbeat = setInterval(() => Atomics.add(beats, 0, 1), beatMs);
  heartbeat.unref();
  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      Atomics.store(beats, 1, 1);
      void worker.terminate();
    },
  };
}
