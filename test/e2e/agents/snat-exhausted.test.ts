// SNAT exhaustion with real packets: the tenant's SNAT rule narrowed to one 64-port block. vm2 opens
// more UDP conversations than there are ports: 64 get a port and their replies, the rest are dropped
// by the compute agent at once (counted in snatExhausted, not parked waiting for a lease that cannot
// come), and the conversations that have ports keep working.
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { NAT_BLOCK_SIZE } from '../../../src/agent-core/store/index.js';
import { AgentWorld } from './agent-world.js';

/** Ports 4992-5055: exactly block 78. */
const BLOCK = 78;
const SOCKETS = NAT_BLOCK_SIZE + 8;
const ECHO_PORT = 7100;

let world: AgentWorld;

beforeAll(async () => {
  world = await AgentWorld.create({ topology: { snatPorts: { from: BLOCK * NAT_BLOCK_SIZE, to: BLOCK * NAT_BLOCK_SIZE + NAT_BLOCK_SIZE - 1 } } });
  await world.startAll();
  const echo = world.lab.spawnNode(world.ns.inet, `
    import { createSocket } from 'node:dgram';
    const [addr, port] = process.argv.slice(1);
    const s = createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind(Number(port), addr, () => console.log('listening'));
  `, [LAB.internetHost, String(ECHO_PORT)]);
  await echo.waitForLine((l) => l === 'listening', 10_000);
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

test('more conversations than SNAT ports: 64 answered, the rest dropped and counted at once, the answered ones keep working', async () => {
  // Phase 1: each socket sends its number every 250 ms until answered, for 4 s (retrying what the
  // lease and the first state push held up). Phase 2: the unanswered ones go on for 3 s more, then
  // the answered ones send once more ("again") to show their bindings still hold.
  const client = world.lab.spawnNode(world.ns.vm2, `
    import { createSocket } from 'node:dgram';
    const [host, port, count] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
    const answered = new Set(), again = new Set();
    const sockets = [];
    for (let i = 0; i < count; i++) {
      const s = createSocket('udp4');
      s.on('message', (m) => {
        const [what, n] = String(m).split(' ');
        (what === 'again' ? again : answered).add(Number(n));
      });
      s.bind(0, () => {});
      sockets.push(s);
    }
    let rounds = 0;
    const t = setInterval(() => {
      sockets.forEach((s, i) => { if (!answered.has(i)) s.send('first ' + i, port, host); });
      if (++rounds === 16) console.log('phase1 answered ' + answered.size);
      if (rounds === 28) {
        clearInterval(t);
        for (const i of answered) sockets[i].send('again ' + i, port, host);
        setTimeout(() => { console.log('answered ' + answered.size + ' again ' + again.size); process.exit(0); }, 1500);
      }
    }, 250);
  `, [LAB.internetHost, String(ECHO_PORT), String(SOCKETS)]);
  const phase1 = await client.waitForLine((l) => l.startsWith('phase1 '), 20_000);
  expect(Number(phase1.split(' ')[2])).toBe(NAT_BLOCK_SIZE);
  const before = (await world.status('compute')).counters;
  const line = await client.waitForLine((l) => l.startsWith('answered '), 20_000);
  const after = (await world.status('compute')).counters;
  const [, answered, , again] = line.split(' ').map(Number);
  expect(answered).toBe(NAT_BLOCK_SIZE);
  expect(again).toBe(NAT_BLOCK_SIZE);
  // Phase 2: 8 sockets x 12 sends, each simulated and dropped at once rather than parked. Only when
  // the exhausted mark lapses (once a second) do the sends of that moment wait out one lease attempt:
  // at most the 8 sockets' sends per lapse, 3-4 lapses in the phase. Without the mark every send parks.
  const dropped = after.snatExhausted! - before.snatExhausted!;
  const parked = after.parked! - before.parked!;
  const unanswered = SOCKETS - NAT_BLOCK_SIZE;
  expect(dropped).toBeGreaterThanOrEqual(unanswered * 8);
  expect(parked).toBeLessThanOrEqual(unanswered * 4);
}, 60_000);
