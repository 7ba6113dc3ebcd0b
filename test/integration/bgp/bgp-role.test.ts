// The BGP role against BIRD 2 over a veth (DESIGN: BGP; issue: tests with a real peer of another
// implementation): sessions (plain, TCP MD5, IPv6, 4-byte ASN), BIRD's routes in a second agent's
// routing table through ZooKeeper, our prefixes in BIRD with the uplink as next hop, withdrawal on
// session loss, multipath, reload as a difference, maximum prefixes, gobgpd crash and re-sync, stop.
import { capturingLogger } from '../store/store-kit.js';
import { waitFor } from '../../helpers/netns.js';
import { bgpTestsUnavailableReason } from './bird-kit.js';
import { bgpConfig, BIRD4, BIRD4_MD5, BIRD6, GW4, GW6, LOCAL_ASN, peers, ROUTER, startBgpWorld, UPLINK_PORT, type BgpWorld } from './bgp-world.js';

const why = bgpTestsUnavailableReason();
if (why !== undefined) console.warn(`BGP role tests skipped: ${why}`);
const describeBgp = why === undefined ? describe : describe.skip;

const on = `on ${UPLINK_PORT}`;
const FROM_BIRD = [
  `198.51.100.0/26 via ${BIRD4} ${on}`,
  `198.51.100.64/26 via ${BIRD4} ${on}`,
  `198.51.100.128/25 via ${BIRD4_MD5} ${on}`,
  `2001:db8:100::/48 via ${BIRD6} ${on}`,
].sort();
/** 198.18.0.0/24 comes over both IPv4 sessions: without multipath exactly one is best. */
const SHARED = '198.18.0.0/24';

describeBgp('BGP role with BIRD as the upstream router', () => {
  const { logger, records } = capturingLogger();
  let w: BgpWorld;

  beforeAll(async () => {
    w = await startBgpWorld(logger);
  }, 120_000);

  afterAll(async () => {
    await w?.teardown();
  });

  const learnedWithoutShared = (): string[] => w.learned().filter((r) => !r.startsWith(SHARED));
  const sharedVia = (): string[] => w.learned().filter((r) => r.startsWith(SHARED));
  const logged = (re: RegExp): boolean => records.some((r) => re.test(String(r.msg)));

  test('sessions establish: plain, TCP MD5 and IPv6, with a 4-byte local ASN', async () => {
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    expect(await w.bird.birdc('show protocols all tg_md5')).toContain(`Neighbor AS:      ${LOCAL_ASN}`);
    await waitFor(async () => (await w.role.status()).peers.every((p) => p.state === 'established'), { timeoutMs: 10_000, what: 'gobgpd to report all peers established' });
    const status = await w.role.status();
    expect(status.gobgpd.state).toBe('running');
    expect(status.peers.map((p) => [p.address, p.uplink, p.uplinkPortId])).toEqual([
      [BIRD4, 'up0', UPLINK_PORT],
      [BIRD4_MD5, 'up0', UPLINK_PORT],
      [BIRD6, 'up0', UPLINK_PORT],
    ]);
    expect(status.peers.every((p) => p.uptimeSeconds !== undefined)).toBe(true);
    // The kernel signs the MD5 session's segments (RFC 2385), and only that one.
    const { stdout } = await w.lab.exec(w.pair.gwNs, 'ss', ['-tnie']);
    const conns = stdout.split(/\n(?=\S)/);
    expect(conns.find((c) => c.includes(`${BIRD4_MD5}:`))).toMatch(new RegExp(`md5keys:${BIRD4_MD5.replace(/\./g, '\\.')}/32`));
    expect(conns.find((c) => c.includes(`${BIRD4}:`))).not.toMatch(/md5keys/);
  });

  test("BIRD's routes reach a second agent's routing table through the store", async () => {
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join() && sharedVia().length === 1, { timeoutMs: 15_000, what: 'learned routes in the second cache' });
    expect([`${SHARED} via ${BIRD4} ${on}`, `${SHARED} via ${BIRD4_MD5} ${on}`]).toContain(sharedVia()[0]);
    const route = w.cache.routes(ROUTER)?.find((r) => r.dst === '2001:db8:100::/48');
    expect(route).toMatchObject({ type: 'route', routerId: ROUTER, nextHop: 'port', origin: 'bgp', egressPortId: UPLINK_PORT, gateway: BIRD6 });
    const status = await w.role.status();
    expect(status.importedPrefixes).toBe(5);
    const v6 = status.peers.find((p) => p.address === BIRD6);
    expect(v6?.imported).toBe(1);
    expect(v6?.families).toEqual([expect.objectContaining({ family: 'ipv6', received: 1, accepted: 1 })]);
  });

  test('advertised prefixes appear in BIRD with the uplink address as next hop; changes apply as a difference', async () => {
    await w.role.advertise(['203.0.113.0/24', '2001:db8:200::/48']);
    await waitFor(async () => (await w.bird.route('203.0.113.0/24'))?.bgpNextHop === GW4, { timeoutMs: 10_000, what: 'BIRD to learn 203.0.113.0/24 via the uplink' });
    await waitFor(async () => (await w.bird.route('2001:db8:200::/48'))?.bgpNextHop === GW6, { timeoutMs: 10_000, what: 'BIRD to learn 2001:db8:200::/48 via the uplink' });
    expect((await w.bird.route('203.0.113.0/24'))?.via).toBe(GW4);
    const since = await w.bird.birdc('show route 203.0.113.0/24 protocol tg_plain');

    await w.role.advertise(['203.0.113.0/24', '203.0.113.128/25']);
    await waitFor(async () => (await w.bird.route('203.0.113.128/25'))?.bgpNextHop === GW4, { timeoutMs: 10_000, what: 'BIRD to learn the added prefix' });
    await waitFor(async () => (await w.bird.route('2001:db8:200::/48')) === undefined, { timeoutMs: 10_000, what: 'BIRD to drop the withdrawn prefix' });
    // The unchanged prefix was not withdrawn and re-announced: BIRD still has it from the same moment.
    expect(await w.bird.birdc('show route 203.0.113.0/24 protocol tg_plain')).toBe(since);
    await expect(w.role.advertise(['203.0.113.1/24'])).rejects.toThrow(/advertise\[0\]: 203.0.113.1\/24 has host bits set/);
    expect((await w.role.status()).advertised).toEqual(['203.0.113.0/24', '203.0.113.128/25']);
    // Our own prefixes never come back as learned routes.
    expect(w.learned().some((r) => r.startsWith('203.0.113.'))).toBe(false);
  });

  test('a session that goes down withdraws its routes from the store; they return with it', async () => {
    await w.bird.birdc('disable tg_md5');
    await waitFor(() => !w.learned().some((r) => r.includes(BIRD4_MD5)), { timeoutMs: 10_000, what: 'routes via the MD5 peer withdrawn' });
    expect(learnedWithoutShared()).toEqual(FROM_BIRD.filter((r) => !r.includes(BIRD4_MD5)));
    // The shared prefix falls back to the other session.
    await waitFor(() => sharedVia().join() === `${SHARED} via ${BIRD4} ${on}`, { timeoutMs: 10_000, what: 'shared prefix via the plain peer' });
    await w.bird.birdc('enable tg_md5');
    await w.bird.waitEstablished(['tg_md5']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join(), { timeoutMs: 15_000, what: 'MD5 peer routes back' });
  });

  test('multipath: every equal-cost path is a route (global change: gobgpd restarts)', async () => {
    expect(await w.role.reload(bgpConfig({ multipath: true }))).toBe('restarted');
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    await waitFor(() => sharedVia().length === 2, { timeoutMs: 20_000, what: 'both paths of the shared prefix' });
    expect(sharedVia()).toEqual([`${SHARED} via ${BIRD4} ${on}`, `${SHARED} via ${BIRD4_MD5} ${on}`]);
    // One path goes: its route goes, the other stays.
    await w.bird.birdc('disable tg_md5');
    await waitFor(() => sharedVia().join() === `${SHARED} via ${BIRD4} ${on}`, { timeoutMs: 10_000, what: 'one path left' });
    await w.bird.birdc('enable tg_md5');
    expect(await w.role.reload(bgpConfig())).toBe('restarted');
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join() && sharedVia().length === 1, { timeoutMs: 20_000, what: 'single best paths again' });
  });

  test('reload applies peers as a difference: untouched and tuned sessions stay up, removed peers go with their routes', async () => {
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    const sinceOf = async (p: string): Promise<string> => (await w.bird.birdc(`show protocols ${p}`)).split('\n').find((l) => l.startsWith(`${p} `))?.trim().split(/\s+/)[4] ?? '';
    const [plainSince, v6Since] = [await sinceOf('tg_plain'), await sinceOf('tg_v6')];
    const [plain, , v6] = peers();
    const plan = await w.role.reload(bgpConfig({ peers: [{ ...plain!, holdTime: 12, keepalive: 4 }, v6!] }));
    expect(plan).toMatchObject({ add: [], replace: [], remove: [expect.objectContaining({ address: BIRD4_MD5 })], tune: [expect.objectContaining({ address: BIRD4 })] });
    await waitFor(() => !w.learned().some((r) => r.includes(BIRD4_MD5)), { timeoutMs: 10_000, what: 'removed peer routes withdrawn' });
    await waitFor(async () => (await w.bird.bgpState('tg_md5')) !== 'Established', { timeoutMs: 10_000, what: 'BIRD to lose the removed session' });
    expect(await sinceOf('tg_plain')).toBe(plainSince);
    expect(await sinceOf('tg_v6')).toBe(v6Since);
    expect(await w.bird.bgpState('tg_plain')).toBe('Established');

    const back = await w.role.reload(bgpConfig());
    expect(back).toMatchObject({ add: [expect.objectContaining({ address: BIRD4_MD5 })], remove: [], replace: [] });
    await w.bird.waitEstablished(['tg_md5']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join(), { timeoutMs: 15_000, what: 'MD5 peer routes back' });
    expect(await sinceOf('tg_v6')).toBe(v6Since);
  });

  test("maximum prefixes: 'drop' holds back the excess, 'restart' has gobgpd close the session and the role re-open it", async () => {
    const [plain, md5, v6] = peers();
    await w.role.reload(bgpConfig({ peers: [{ ...plain!, maxPrefixes: { limit: 1, action: 'drop' } }, md5!, v6!] }));
    await waitFor(() => w.learned().filter((r) => r.includes(`via ${BIRD4} `)).length === 1, { timeoutMs: 10_000, what: 'one route from the limited peer' });
    const st = (await w.role.status()).peers.find((p) => p.address === BIRD4);
    expect(st?.imported).toBe(1);
    expect(st?.held).toBeGreaterThanOrEqual(1);
    expect(await w.bird.bgpState('tg_plain')).toBe('Established');
    expect(logged(/sent more than 1 ipv4 prefixes; further prefixes are not imported/)).toBe(true);

    await w.role.reload(bgpConfig({ peers: [{ ...plain!, maxPrefixes: { limit: 1, action: 'restart', restartAfterSeconds: 1 } }, md5!, v6!] }));
    await waitFor(() => logged(/exceeded its maximum of 1 prefixes: session closed, restarting it in 1 s/), { timeoutMs: 15_000, what: 'the prefix limit to close the session' });
    await waitFor(() => !w.learned().some((r) => r.includes(`via ${BIRD4} `)), { timeoutMs: 10_000, what: 'the closed session to withdraw its routes' });
    await waitFor(() => logged(/re-enabled after its prefix limit/), { timeoutMs: 10_000, what: 'the peer to be re-enabled' });
    // gobgpd's own warning, passed through the supervisor's log.
    expect(logged(/prefix limit reached/)).toBe(true);

    await w.role.reload(bgpConfig());
    await w.bird.waitEstablished(['tg_plain']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join(), { timeoutMs: 20_000, what: 'all routes back without a limit' });
  });

  test('gobgpd killed: its routes leave the store at once, then it is restarted and re-synced', async () => {
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join(), { timeoutMs: 15_000, what: 'all routes before the kill' });
    let sawEmpty = false;
    const off = w.cache.onChange(() => {
      if (w.learned().length === 0) sawEmpty = true;
    });
    const before = await w.role.status();
    process.kill(w.role.gobgpdPid as number, 'SIGKILL');
    await waitFor(() => sawEmpty, { timeoutMs: 10_000, what: 'learned routes withdrawn after the crash' });
    await waitFor(async () => (await w.role.status()).gobgpd.restarts === before.gobgpd.restarts + 1, { timeoutMs: 10_000, what: 'gobgpd restarted' });
    await w.bird.waitEstablished(['tg_plain', 'tg_md5', 'tg_v6']);
    await waitFor(() => learnedWithoutShared().join() === FROM_BIRD.join(), { timeoutMs: 20_000, what: 'routes re-synced' });
    await waitFor(async () => (await w.bird.route('203.0.113.128/25'))?.bgpNextHop === GW4, { timeoutMs: 10_000, what: 'advertisement re-synced' });
    off();
    expect((await w.role.status()).gobgpd.pid).not.toBe(before.gobgpd.pid);
  });

  test('stop: gobgpd closes the sessions and the learned routes are withdrawn', async () => {
    const pid = w.role.gobgpdPid as number;
    await w.role.stop();
    expect(w.role.gobgpdPid).toBeUndefined();
    await waitFor(() => w.learned().length === 0, { timeoutMs: 10_000, what: 'learned routes withdrawn on stop' });
    await waitFor(async () => (await w.bird.bgpState('tg_plain')) !== 'Established', { timeoutMs: 5000, what: 'BIRD to lose the session' });
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
