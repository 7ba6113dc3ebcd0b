// The main-loop watchdog against real processes: a hung main loop kills its process with SIGKILL
// and says why on stderr; a slow but turning loop, or a stopped watchdog, does not.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MIN_STALL_MS, startMainLoopWatchdog } from '../../../src/gateway/main-loop-watchdog.js';

const CHILD = fileURLToPath(new URL('./watchdog-child.ts', import.meta.url));
const STALL_MS = 1000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function runChild(mode: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, String(STALL_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // Bounded: whatever the watchdog does, the child is gone after this.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

describe('main-loop watchdog', () => {
  test('a hung main loop: the process is killed and says why', async () => {
    const exit = await runChild('hang');
    expect(exit.stdout).toContain('ready');
    expect(exit.signal).toBe('SIGKILL');
    const line = exit.stderr.split('\n').find((l) => l.includes('"component":"watchdog"'));
    expect(line).toBeDefined();
    const parsed = JSON.parse(line!) as { level: number; host: string; stalledMs: number; msg: string };
    expect(parsed).toMatchObject({ level: 60, host: 'watchdog-test' });
    expect(parsed.stalledMs).toBeGreaterThanOrEqual(STALL_MS);
    expect(parsed.msg).toMatch(/main loop has not run for .* killing the agent/);
  }, 90_000);

  test('a slow main loop whose turns stay under the stall lives', async () => {
    const exit = await runChild('busy');
    expect(exit.stderr).not.toContain('"component":"watchdog"');
    expect([exit.code, exit.signal]).toEqual([0, null]);
  }, 90_000);

  test('a stopped watchdog lets a long turn pass', async () => {
    const exit = await runChild('stopped');
    expect(exit.stderr).not.toContain('"component":"watchdog"');
    expect([exit.code, exit.signal]).toEqual([0, null]);
  }, 90_000);

  test('refuses a stall too short to tell a hang from a GC pause', () => {
    expect(() => startMainLoopWatchdog({ stallMs: MIN_STALL_MS - 1, name: 'x' })).toThrow(RangeError);
    expect(() => startMainLoopWatchdog({ stallMs: 1500.5, name: 'x' })).toThrow(/integer/);
  });
});
