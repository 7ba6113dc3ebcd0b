// Fate sharing (DESIGN: BGP, "dies with the agent"): the process owning gobgpd is killed with
// SIGKILL, which runs no exit handler; gobgpd must die with it (setpriv's parent-death signal) and
// BIRD, its peer, must see the session drop at once rather than after a hold time.
import { fileURLToPath } from 'node:url';
import { NetnsLab, waitFor, type ChildHandle } from '../../helpers/netns.js';
import { addUplinkPair, Bird, bgpTestsUnavailableReason, FAST_BIRD_TIMERS, isRunning as isAlive } from './bird-kit.js';

const why = bgpTestsUnavailableReason();
if (why !== undefined) console.warn(`gobgpd owner-kill test skipped: ${why}`);
const describeBgp = why === undefined ? describe : describe.skip;
const OWNER = fileURLToPath(new URL('./gobgpd-owner.ts', import.meta.url));

describeBgp('gobgpd dies with its owner', () => {
  let lab: NetnsLab;
  let bird: Bird | undefined;
  let owner: ChildHandle | undefined;
  let gobgpdPid: number | undefined;

  beforeAll(async () => {
    lab = await NetnsLab.create();
  });

  afterAll(async () => {
    if (gobgpdPid !== undefined && isAlive(gobgpdPid)) process.kill(gobgpdPid, 'SIGKILL');
    await bird?.stop();
    await lab.cleanup();
  });

  test('SIGKILL of the owner kills gobgpd and BIRD sees the session drop', async () => {
    const pair = await addUplinkPair(lab, 'k', ['192.0.2.1/24'], ['192.0.2.2/24']);
    bird = await Bird.start(
      lab,
      pair.birdNs,
      `router id 192.0.2.2;
protocol device { scan time 1; }
protocol bgp tg { local 192.0.2.2 as 65001; neighbor 192.0.2.1 as 65000; ${FAST_BIRD_TIMERS} ipv4 { import all; export none; }; }
`,
    );
    const socket = `${bird.dir}/gobgpd.sock`;
    const peer = { address: '192.0.2.2', asn: 65001, families: ['ipv4'], holdTime: 90, uplink: 'up0', uplinkPortId: 'uplink' };
    owner = lab.spawn(undefined, process.execPath, ['--import', 'tsx', OWNER, JSON.stringify({ socket, netns: pair.gwNs, asn: 65000, routerId: '192.0.2.1', peer })]);
    const line = await owner.waitForLine((l) => l.startsWith('{'), 30_000);
    gobgpdPid = (JSON.parse(line) as { pid: number }).pid;
    expect(isAlive(gobgpdPid)).toBe(true);
    await bird.waitEstablished(['tg']);

    // Hold time 90 s: only the kernel closing gobgpd's TCP connection can make BIRD notice within
    // the bound of a second.
    const killedAt = Date.now();
    owner.proc.kill('SIGKILL');
    await waitFor(() => !isAlive(gobgpdPid as number), { timeoutMs: 1000, intervalMs: 5, what: 'gobgpd to die with its owner' });
    await waitFor(async () => (await bird?.bgpState('tg')) !== 'Established', { timeoutMs: 1000 - (Date.now() - killedAt), intervalMs: 20, what: 'BIRD to see the session drop within a second' });
    console.log(`owner SIGKILLed: BIRD saw the session drop after ${Date.now() - killedAt} ms`);
    await owner.waitForExit(5000);
    // Once the connection is gone BIRD's reconnects are refused: nobody listens on 192.0.2.1:179.
    await waitFor(async () => /Last error:\s+(Socket: Connection refused|Connection closed|Received)/.test(await bird!.birdc('show protocols all tg')), {
      timeoutMs: 5000,
      what: 'BIRD to report the closed connection',
    });
  });
});
