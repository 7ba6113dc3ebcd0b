// A child process for main-loop-watchdog.test.ts: starts the watchdog, says "ready", then does what
// its argument says, so that the test can watch the real process die (or not) from outside.
import { startMainLoopWatchdog } from '../../../src/gateway/main-loop-watchdog.js';

const [mode, stallArg] = process.argv.slice(2);
const watchdog = startMainLoopWatchdog({ stallMs: Number(stallArg), name: 'watchdog-test' });
const spin = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the main loop for `ms` (a bounded hang). */
const block = (ms: number): void => {
  Atomics.wait(spin, 0, 0, ms);
};

process.stdout.write('ready\n');
setTimeout(() => {
  switch (mode) {
    case 'hang':
      // Bounded so that a broken watchdog fails the test instead of leaving a process behind.
      block(30_000);
      process.exit(0);
      break;
    case 'busy': {
      // Long synchronous turns, each shorter than the stall, with the loop turning in between: a
      // slow loop, not a hung one. (Turns queued back to back would be one long stall.)
      let left = 8;
      const turn = (): void => {
        block(Number(stallArg) / 2);
        if (--left === 0) process.exit(0);
        setTimeout(turn, 20);
      };
      turn();
      break;
    }
    case 'stopped':
      watchdog.stop();
      block(Number(stallArg) * 3);
      process.exit(0);
      break;
    default:
      process.exit(3);
  }
}, 100);
