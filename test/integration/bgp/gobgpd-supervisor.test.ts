// gobgpd under the supervisor (DESIGN: BGP): spawned with its API on loopback TCP or, inside a
// network namespace, on a unix socket; configured after every start; restarted and reconfigured
// after it dies; stopped for good on stop(); clear errors when it cannot start.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GobgpdStartError, GobgpdSupervisor, type GobgpClient } from '../../../src/bgp/index.js';
import { NetnsLab, waitFor } from '../../helpers/netns.js';
import { freePort } from '../../helpers/zookeeper.js';
import { bgpTestsUnavailableReason, isRunning as isAlive } from './bird-kit.js';

const why = bgpTestsUnavailableReason();
if (why !== undefined) console.warn(`gobgpd supervisor tests skipped: ${why}`);
const describeBgp = why === undefined ? describe : describe.skip;
const logger = pino({ level: 'silent' });

function parentOf(pid: number): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describeBgp('gobgpd supervisor', () => {
  const supervisors: GobgpdSupervisor[] = [];
  let lab: NetnsLab | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-gobgpd-'));
  });

  afterAll(async () => {
    for (const s of supervisors) await s.stop().catch(() => undefined);
    await lab?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('runs gobgpd with a TCP API on loopback, reconfigures it after SIGKILL, and stops it for good', async () => {
    const configured: { generation: number; asn: number }[] = [];
    const exits: number[] = [];
    const port = await freePort();
    const sup = new GobgpdSupervisor({
      api: { port },
      logger,
      backoff: { initialMs: 50 },
      configure: async (client: GobgpClient, generation) => {
        await client.startBgp({ asn: 4_200_000_000 + generation, router_id: '192.0.2.1', listen_port: -1 });
        configured.push({ generation, asn: (await client.getBgp()).asn });
      },
      onExit: (e) => exits.push(e.generation),
    });
    supervisors.push(sup);
    await sup.start();
    expect(sup.state).toBe('running');
    expect(configured).toEqual([{ generation: 1, asn: 4_200_000_001 }]);
    const first = sup.pid as number;
    // setpriv and gobgpd exec in place: the child is gobgpd itself, a child of this process.
    expect(readFileSync(`/proc/${first}/cmdline`, 'utf8').split('\0')[0]).toBe('/usr/bin/gobgpd');
    expect(parentOf(first)).toBe(process.pid);

    process.kill(first, 'SIGKILL');
    await waitFor(() => configured.length === 2 && sup.state === 'running', { timeoutMs: 15_000, what: 'gobgpd restarted and reconfigured' });
    expect(exits).toEqual([1]);
    expect(configured[1]).toEqual({ generation: 2, asn: 4_200_000_002 });
    expect(sup.pid).not.toBe(first);
    expect(sup.restarts).toBe(1);
    expect((await sup.client?.getBgp())?.asn).toBe(4_200_000_002);

    const second = sup.pid as number;
    await sup.stop();
    expect(sup.state).toBe('stopped');
    expect(isAlive(second)).toBe(false);
    expect(exits).toEqual([1]);
  });

  test('restart() replaces a running gobgpd at once', async () => {
    const generations: number[] = [];
    const sup = new GobgpdSupervisor({
      api: { port: await freePort() },
      logger,
      configure: async (client, generation) => {
        await client.startBgp({ asn: 65000, router_id: '192.0.2.1', listen_port: -1 });
        generations.push(generation);
      },
    });
    supervisors.push(sup);
    await sup.start();
    const before = sup.pid as number;
    await sup.restart();
    expect(generations).toEqual([1, 2]);
    expect(isAlive(before)).toBe(false);
    await sup.stop();
  });

  test('inside a network namespace it serves its API on a unix socket', async () => {
    lab = await NetnsLab.create();
    const ns = await lab.addNamespace('gobgpd');
    const socket = join(dir, 'api.sock');
    const sup = new GobgpdSupervisor({
      api: { socket },
      netns: ns,
      logger,
      configure: async (client) => {
        // Listening on 179 is fine: the namespace has its own ports.
        await client.startBgp({ asn: 65000, router_id: '192.0.2.1', listen_port: 179 });
      },
    });
    supervisors.push(sup);
    await sup.start();
    const pid = sup.pid as number;
    expect(parentOf(pid)).toBe(process.pid);
    const { stdout } = await lab.exec(undefined, 'ip', ['netns', 'pids', ns]);
    expect(stdout.split(/\s+/)).toContain(String(pid));
    expect((await sup.client?.getBgp())?.listen_port).toBe(179);
    await sup.stop();
  });

  test('a TCP API inside a namespace is refused: the agent could not reach it', () => {
    expect(() => new GobgpdSupervisor({ api: { port: 50051 }, netns: 'x', configure: async () => undefined })).toThrow(/unix socket/);
  });

  test('a missing binary, or a gobgpd that exits at once, fails start() with GobgpdStartError', async () => {
    const missing = new GobgpdSupervisor({ api: { port: await freePort() }, binary: '/nonexistent/gobgpd', logger, configure: async () => undefined });
    await expect(missing.start()).rejects.toThrow(GobgpdStartError);
    await expect(missing.start()).rejects.toThrow(/nonexistent\/gobgpd is missing/);

    // /bin/false stands in for a gobgpd that dies at once (e.g. a bad flag in a patched build).
    const dies = new GobgpdSupervisor({ api: { port: await freePort() }, binary: '/bin/false', logger, configure: async () => undefined });
    await expect(dies.start()).rejects.toThrow(/exited \(code 1/);
    expect(dies.state).toBe('stopped');
  });

  test('a configure step that fails on the first start kills gobgpd and reports it', async () => {
    let pid: number | undefined;
    const sup: GobgpdSupervisor = new GobgpdSupervisor({
      api: { port: await freePort() },
      logger,
      configure: async (client) => {
        pid = sup.pid;
        await client.startBgp({ asn: 0, router_id: 'not-an-address', listen_port: -1 });
      },
    });
    await expect(sup.start()).rejects.toThrow(GobgpdStartError);
    expect(pid).toBeDefined();
    await waitFor(() => !isAlive(pid as number), { timeoutMs: 5000, what: 'gobgpd killed' });
    expect(sup.state).toBe('stopped');
  });
});
