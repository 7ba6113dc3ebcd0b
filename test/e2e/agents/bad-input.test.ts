// Issue 4 e2e: malformed frames on a bound port, and tunnel datagrams with unknown keys, bad
// headers or junk flow state reaching an agent are dropped and counted; the agent keeps forwarding.
// Tunnel datagrams from a source that is no registered host are dropped (DESIGN: Tunnels).
import { createSocket } from 'node:dgram';
import { AfPacketPort } from '../../../src/agent-core/datapath/af-packet.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import { HostStateView, ZkClient } from '../../../src/agent-core/store/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { waitFor } from '../../helpers/netns.js';
import { packageVersion } from '../../../src/gateway/version.js';
import { AgentWorld, type HostName } from './agent-world.js';

let world: AgentWorld;

beforeAll(async () => {
  world = await AgentWorld.create();
  await world.startAll();
  // Traffic works before the garbage arrives.
  await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost);
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

const vxlan = (key: number, inner: Uint8Array): Buffer => Buffer.from(encodeVxlan(key, inner));

/** Sends the datagrams to compute's tunnel port from `source` (a loopback address). */
async function sendFrom(source: string, datagrams: readonly Buffer[]): Promise<void> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, source, () => r()));
    for (const d of datagrams) await new Promise<void>((r, j) => sock.send(d, world.tunnelPort, world.specs.compute.tunnelIp, (e) => (e ? j(e) : r())));
  } finally {
    sock.close();
  }
}

/** The underlay sources the agent's tunnel accepts (null: any, not listed yet). */
async function tunnelRemotes(host: HostName): Promise<string[] | null | undefined> {
  return (await world.status(host)).tunnelRemotes;
}

function ethernetFrame(): Uint8Array {
  const f = new Uint8Array(60);
  f.set([0x0a, 0, 0, 0, 0, 0x11, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00]);
  f[14] = 0x45;
  return f;
}

test('malformed frames from a VM are dropped and counted at its port', async () => {
  const before = (await world.status('compute')).datapath.malformedDropped;
  const port = AfPacketPort.open('eth0', { netns: world.ns.vm1 });
  try {
    const bad: Uint8Array[] = [];
    // IPv4 with a header length below 20 bytes, with a total length past the frame, and IPv6 cut short.
    for (let i = 0; i < 50; i++) {
      const a = ethernetFrame();
      a[14] = 0x41;
      const b = ethernetFrame();
      b[16] = 0xff;
      b[17] = 0xff;
      const c = ethernetFrame().slice(0, 30);
      c[12] = 0x86;
      c[13] = 0xdd;
      c[14] = 0x60;
      bad.push(a, b, c);
    }
    expect(port.send(bad)).toBe(bad.length);
  } finally {
    port.close();
  }
  await waitFor(async () => (await world.status('compute')).datapath.malformedDropped >= before + 150, { timeoutMs: 10_000, what: 'malformed frames counted' });
}, 60_000);

test('tunnel datagrams with unknown keys, broken headers or junk flow state are dropped and counted', async () => {
  const s0 = await world.status('compute');
  // From a registered host's address (gateway A's): datagrams from anywhere else never get this far.
  const junk: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    junk.push(vxlan(0x123456, ethernetFrame())); // a key no port here has
    junk.push(Buffer.from([0xff, 0, 0, 0, 0, 0, 1])); // shorter than a VXLAN header
    junk.push(vxlan(TUNNEL_KEY_FLOW_STATE, new Uint8Array(40).fill(0x5a))); // not a flow-state message
  }
  await sendFrom(world.specs.gwA.tunnelIp, junk);
  await waitFor(async () => {
    const s = await world.status('compute');
    return s.datapath.unknownTunnelKeyDropped >= s0.datapath.unknownTunnelKeyDropped + 20
      && s.datapath.tunnelMalformedDropped >= s0.datapath.tunnelMalformedDropped + 20
      && s.push.malformed >= s0.push.malformed + 20;
  }, { timeoutMs: 10_000, what: 'bad tunnel datagrams counted' });
}, 60_000);

test('each agent publishes its host with the package version (package.json)', async () => {
  const zk = await ZkClient.connect(world.zk.connectionString);
  try {
    const view = new HostStateView(zk, { root: world.root });
    const hosts = await Promise.all(Object.values(world.specs).map((s) => view.ensureHost(s.hostId)));
    view.close();
    expect(hosts.map((h) => h?.agentVersion)).toEqual(Object.values(world.specs).map(() => packageVersion()));
  } finally {
    await zk.close();
  }
});

test('each agent knows the interface under its tunnel (loopback here) and finds no port outgrowing it', async () => {
  for (const host of Object.keys(world.specs) as HostName[]) {
    const s = await world.status(host);
    expect(s.underlay).toMatchObject({ ifname: 'lo', maxInnerPacket: s.underlay!.mtu - 50 });
    expect(s.mtuProblems).toEqual([]);
  }
});

test("a VM port's tunnel key from a source that is no registered host is dropped and counted; from a host it reaches the VM", async () => {
  const hostIps = Object.values(world.specs).map((s) => s.tunnelIp).sort();
  await waitFor(async () => JSON.stringify(await tunnelRemotes('compute')) === JSON.stringify(hostIps), { timeoutMs: 10_000, what: 'compute to accept exactly the hosts' });
  const zk = await ZkClient.connect(world.zk.connectionString);
  let key: number | undefined;
  try {
    const view = new HostStateView(zk, { root: world.root });
    key = (await view.ensurePortActive(LAB.vm1.port))?.tunnelKey;
    view.close();
  } finally {
    await zk.close();
  }
  expect(key).toBeDefined();
  // Frames to vm1's MAC with a local-experimental ethertype, told apart by their payload.
  const marked = (marker: number): Buffer => {
    const f = new Uint8Array(60);
    f.set([0x0a, 0, 0, 0, 0, 0x11, 0x02, 0, 0, 0, 0, 0x99, 0x88, 0xb5, marker]);
    return vxlan(key!, f);
  };
  const STRANGER = 0x5e;
  const HOST = 0x4f;
  const seen = new Set<number>();
  const capture = AfPacketPort.open('eth0', { netns: world.ns.vm1 });
  capture.onFrames((batch) => {
    for (const f of batch) if (f[12] === 0x88 && f[13] === 0xb5) seen.add(f[14]!);
  });
  try {
    const s0 = await world.status('compute');
    await sendFrom('127.0.0.99', Array.from({ length: 10 }, () => marked(STRANGER)));
    await waitFor(async () => (await world.status('compute')).datapath.tunnelUnknownRemoteDropped! >= s0.datapath.tunnelUnknownRemoteDropped! + 10, {
      timeoutMs: 10_000, what: 'datagrams from 127.0.0.99 counted as from an unknown remote',
    });
    // The same datagram from a host's address is delivered; it arrives after the stranger's, so
    // had those been delivered they would have been captured first.
    await sendFrom(world.specs.gwB.tunnelIp, [marked(HOST)]);
    await waitFor(() => seen.has(HOST), { timeoutMs: 10_000, what: 'the frame from gateway B at vm1' });
    expect(seen.has(STRANGER)).toBe(false);
  } finally {
    capture.close();
  }
}, 60_000);

test('after all that the agents are alive and still forward: ping to the floating IP', async () => {
  expect(await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 3 })).toBe(3);
  for (const h of ['gwA', 'gwB', 'compute'] as const) expect(world.agents.get(h)?.exitCode).toBeUndefined();
}, 60_000);
