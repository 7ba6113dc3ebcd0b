// The flow-state push over the agent's tunnel: FlowStateTransports on real VXLAN tunnel ports on
// loopback (127.0.0.2-4, one UDP port), a test shim standing in for the datapath's demultiplexer
// (key 0xFFFFFF to the channel, other keys to the data path). Push, ACK, retransmission, HMAC, data
// frames alongside, interworking with an own-socket transport, junk on the key; and the agent's own
// wiring, over InProcessDatapath's demultiplexer (datapathFlowStateChannel). Every wait is bounded.
import { createSocket } from 'node:dgram';
import {
  FlowStateTransport, type FlowStateTransportOptions, type ImportedState, type TunnelPortChannel,
  datapathFlowStateChannel, encodeDatagram, isFlowStateFrame, tunnelPortChannel,
} from '../../../src/agent-core/flowstate/index.js';
import { InProcessDatapath } from '../../../src/agent-core/datapath/in-process-datapath.js';
import type { LocalTables } from '../../../src/agent-core/agent/local-tables.js';
import { TunnelError, type TunnelFrame } from '../../../src/agent-core/datapath/tunnel-port.js';
import { type VxlanTunnelPort, openVxlanTunnel } from '../../../src/agent-core/datapath/vxlan-tunnel.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import { RELAXED_RETRANSMIT_MS, ct, importingTables, push, snat, waitFor } from './push-kit.js';

const IP = { 'host-a': '127.0.0.2', 'host-b': '127.0.0.3', 'host-c': '127.0.0.4' } as const;
type HostId = keyof typeof IP;
const DATA_KEY = 7;

interface Node {
  readonly id: HostId;
  readonly tunnel: VxlanTunnelPort;
  readonly channel: TunnelPortChannel;
  readonly transport: FlowStateTransport;
  readonly imports: ImportedState[];
  readonly tables: LocalTables;
  /** What the shim saw, in order: 'flow-state' or 'key N'. */
  readonly arrivals: string[];
  readonly dataFrames: TunnelFrame[];
}

const tunnels: VxlanTunnelPort[] = [];
const transports: FlowStateTransport[] = [];
/** Where every host's transport is reached: its tunnel IP (the port only matters to an own socket). */
const peers = new Map<string, { address: string; port?: number }>();

/**
 * Opens a tunnel port on each address, all on one UDP port (a VXLAN port sends to the port it is
 * bound to, like hosts that share the configured tunnel port). Retries if another process holds it.
 */
async function openTunnels(ids: readonly HostId[]): Promise<VxlanTunnelPort[]> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const opened: VxlanTunnelPort[] = [];
    try {
      for (const id of ids) opened.push(await openVxlanTunnel({ localAddress: IP[id], port: opened[0]?.localPort ?? 0 }));
      tunnels.push(...opened);
      return opened;
    } catch (err) {
      await Promise.all(opened.map((t) => t.close()));
      if (!(err instanceof TunnelError && err.code === 'EADDRINUSE')) throw err;
    }
  }
  throw new Error('no UDP port free on all the loopback addresses');
}

/** The datapath's part, played by a few lines: key 0xFFFFFF to the flow-state channel, the rest to data. */
function demultiplex(tunnel: VxlanTunnelPort, channel: TunnelPortChannel, arrivals: string[], dataFrames: TunnelFrame[]): void {
  tunnel.onFrames((batch) => {
    for (const f of batch) {
      if (isFlowStateFrame(f)) {
        arrivals.push('flow-state');
        channel.deliver(f);
      } else {
        arrivals.push(`key ${f.tunnelKey}`);
        dataFrames.push(f);
      }
    }
  });
}

async function node(id: HostId, tunnel: VxlanTunnelPort, extra: Partial<FlowStateTransportOptions> = {}): Promise<Node> {
  const { imports, tables, onImport } = importingTables();
  const arrivals: string[] = [];
  const dataFrames: TunnelFrame[] = [];
  const channel = tunnelPortChannel(tunnel);
  demultiplex(tunnel, channel, arrivals, dataFrames);
  const transport = new FlowStateTransport({
    hostId: id,
    channel,
    retransmitTimeoutMs: RELAXED_RETRANSMIT_MS,
    resolvePeer: (h) => peers.get(h),
    onImport,
    ...extra,
  });
  await transport.start();
  transports.push(transport);
  peers.set(id, { address: IP[id] });
  return { id, tunnel, channel, transport, imports, tables, arrivals, dataFrames };
}

async function nodes(ids: readonly HostId[], extra: Partial<Record<HostId, Partial<FlowStateTransportOptions>>> = {}): Promise<Node[]> {
  const ports = await openTunnels(ids);
  return Promise.all(ids.map((id, i) => node(id, ports[i], extra[id])));
}

/** An Ethernet frame for a data port's key (what the datapath would tunnel after the push). */
const dataFrame = (): Uint8Array => new Uint8Array(60).fill(0xab);

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
  await Promise.all(tunnels.splice(0).map((t) => t.close()));
  peers.clear();
});

describe('flow-state push over VXLAN tunnel ports (loopback)', () => {
  test('delivered to two peers, imported, acknowledged; a data frame sent after the push arrives after it', async () => {
    const [a, b, c] = await nodes(['host-a', 'host-b', 'host-c']);
    expect(a.transport.pushFlowState(push(ct('router-1:6:167772165:51000:134744072:443'), snat), ['host-b', 'host-c'])).toBe(2);
    void a.tunnel.send([{ innerFrame: dataFrame(), tunnelKey: DATA_KEY, remoteIp: IP['host-b'] }]);
    await waitFor('both imports, both ACKs and the data frame', () =>
      b.imports.length === 1 && c.imports.length === 1 && a.transport.outstanding() === 0 && b.dataFrames.length === 1);
    for (const n of [b, c]) {
      expect(n.imports[0]).toMatchObject({ sender: 'host-a', ingressPortId: 'vm-port-1', egressPortIds: ['uplink-1'] });
      expect(n.tables.has('router-1:6:167772165:51000:134744072:443')).toBe(true);
      expect(n.tables.get(snat.key)).toEqual({ ip: 0xc6336401, port: 40123 });
    }
    // One ordered queue per tunnel port: the state left ahead of the data packet (DESIGN: The packet's way, 6).
    expect(b.arrivals).toEqual(['flow-state', `key ${DATA_KEY}`]);
    expect(b.dataFrames[0]).toMatchObject({ tunnelKey: DATA_KEY, remoteIp: IP['host-a'] });
    expect(new Uint8Array(b.dataFrames[0].innerFrame)).toEqual(dataFrame());
    expect(a.transport.counters()).toMatchObject({ messagesSent: 2, acked: 2, lost: 0, acksReceived: 2, sendErrors: 0 });
    expect(b.transport.counters()).toMatchObject({ received: 1, entriesImported: 2, acksSent: 1, malformed: 0 });
    expect(a.channel.counters()).toMatchObject({ sent: 2 + a.transport.counters().retransmitted, sendFailed: 0, received: 2 });
    expect(b.tunnel.stats()).toMatchObject({ malformedDropped: 0, unknownRemoteDropped: 0 });
  });

  test('the first messages lost on the way in: state arrives by retransmission, imported once', async () => {
    let toDrop = 2;
    const [a, b] = await nodes(['host-a', 'host-b'], {
      'host-a': { retransmitTimeoutMs: 20 },
      'host-b': { testHooks: { dropIncoming: () => toDrop-- > 0 } },
    });
    a.transport.pushFlowState(push(ct('k1'), ct('k2')), ['host-b']);
    await waitFor('import after retransmission', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.imports[0].changes).toEqual([{ kind: 'conntrack', key: 'k1' }, { kind: 'conntrack', key: 'k2' }]);
    const rb = b.transport.counters();
    expect(rb.droppedByTestHook).toBe(2);
    expect(rb.received - rb.duplicates).toBe(1);
    const ra = a.transport.counters();
    expect(ra.retransmitted).toBeGreaterThanOrEqual(2);
    expect(ra).toMatchObject({ acked: 1, lost: 0 });
    // Every send and retransmission went out through the tunnel port as a frame with key 0xFFFFFF.
    expect(a.channel.counters().sent).toBe(ra.messagesSent + ra.retransmitted);
  });

  test('a lost ACK: the retransmission is acknowledged again but not imported twice', async () => {
    let acksToDrop = 1;
    const [a, b] = await nodes(['host-a', 'host-b'], { 'host-a': { retransmitTimeoutMs: 20, testHooks: { dropIncoming: () => acksToDrop-- > 0 } } });
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('ACK of the retransmission', () => a.transport.outstanding() === 0);
    expect(b.imports).toHaveLength(1);
    const rb = b.transport.counters();
    expect(rb.duplicates).toBeGreaterThanOrEqual(1);
    expect(rb.received - rb.duplicates).toBe(1);
    expect(rb.acksSent).toBe(rb.received);
    expect(a.transport.counters()).toMatchObject({ acked: 1, lost: 0 });
  });

  test('with the same cluster key on both sides the push is authenticated and works', async () => {
    const key = { clusterKey: 'shared secret' };
    const [a, b] = await nodes(['host-a', 'host-b'], { 'host-a': key, 'host-b': key });
    a.transport.pushFlowState(push(snat), ['host-b']);
    await waitFor('authenticated import and ACK', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.transport.counters()).toMatchObject({ badAuth: 0, received: 1 });
    expect(a.transport.counters()).toMatchObject({ badAuth: 0, acked: 1 });
  });

  test('with mismatched keys the receiver counts bad-auth, imports nothing, and the sender gives up', async () => {
    const [a, b] = await nodes(['host-a', 'host-b'], {
      'host-a': { clusterKey: 'key one', retransmitTimeoutMs: 10, maxRetries: 2 },
      'host-b': { clusterKey: 'key two' },
    });
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('sender to give up', () => a.transport.counters().lost === 1 && b.transport.counters().badAuth === 3);
    expect(b.imports).toEqual([]);
    expect(b.transport.counters()).toMatchObject({ badAuth: 3, received: 0, acksSent: 0 });
    expect(b.channel.counters().received).toBe(3);
  });

  test('a keyed receiver refuses untagged pushes', async () => {
    const [a, b] = await nodes(['host-a', 'host-b'], { 'host-b': { clusterKey: 'secret', maxRetries: 1 } });
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('bad-auth counted twice (first send and retry)', () => b.transport.counters().badAuth === 2);
    expect(b.imports).toEqual([]);
  });

  test('interworks with an own-socket transport on the tunnel port: the same bytes on the wire, both ways', async () => {
    const key = { clusterKey: 'shared secret' };
    const [tunnelled] = await openTunnels(['host-b']);
    const b = await node('host-b', tunnelled, key);
    const imports: ImportedState[] = [];
    // An agent that still binds its own socket, at the tunnel port of its address.
    const own = new FlowStateTransport({
      hostId: 'host-c', bindAddress: IP['host-c'], port: tunnelled.localPort, retransmitTimeoutMs: RELAXED_RETRANSMIT_MS, ...key,
      resolvePeer: (h) => peers.get(h), onImport: (s) => imports.push(s),
    });
    await own.start();
    transports.push(own);
    // The own socket needs the peers' UDP port; the tunnel port knows it already.
    for (const id of ['host-b', 'host-c'] as const) peers.set(id, { address: IP[id], port: tunnelled.localPort });
    own.pushFlowState(push(ct('from-socket')), ['host-b']);
    b.transport.pushFlowState(push(ct('from-tunnel')), ['host-c']);
    await waitFor('both imports and both ACKs', () =>
      b.imports.length === 1 && imports.length === 1 && own.outstanding() === 0 && b.transport.outstanding() === 0);
    expect(b.imports[0].changes).toEqual([{ kind: 'conntrack', key: 'from-socket' }]);
    expect(imports[0].changes).toEqual([{ kind: 'conntrack', key: 'from-tunnel' }]);
    expect([b.transport.counters().malformed, own.counters().malformed]).toEqual([0, 0]);
  });

  test('junk under the flow-state key is counted and dropped; a double VXLAN header is junk too', async () => {
    const [a, b] = await nodes(['host-a', 'host-b']);
    const message = encodeDatagram({ type: 'ack', sender: 'x', epoch: 0, ackedSender: 'y', ackedEpoch: 0, seqs: [1] });
    if (!(message instanceof Uint8Array)) throw new Error('encode failed');
    const junk = [new Uint8Array(40).fill(0xff), message, new Uint8Array(14)];
    const sent = await a.tunnel.send(junk.map((innerFrame) => ({ innerFrame, tunnelKey: TUNNEL_KEY_FLOW_STATE, remoteIp: IP['host-b'] })));
    expect(sent).toBe(junk.length);
    // Shorter than an Ethernet header: the tunnel port itself drops it, before any demultiplexing.
    const raw = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) =>
        raw.send(encodeVxlan(TUNNEL_KEY_FLOW_STATE, new Uint8Array(5)), b.tunnel.localPort, IP['host-b'], (err) => (err ? reject(err) : resolve())));
    } finally {
      raw.close();
    }
    await waitFor('all junk counted', () => b.transport.counters().malformed === junk.length && b.tunnel.stats().malformedDropped === 1);
    a.transport.pushFlowState(push(ct('after-junk')), ['host-b']);
    await waitFor('a good push after the junk', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.transport.counters()).toMatchObject({ malformed: junk.length, received: 1, badAuth: 0 });
  });

  test('a stopped transport drops what the tunnel still delivers; the sender gives up; restarted, it works again', async () => {
    const [a, b] = await nodes(['host-a', 'host-b'], { 'host-a': { retransmitTimeoutMs: 10, maxRetries: 2 } });
    await b.transport.stop();
    a.transport.pushFlowState(push(ct('while-stopped')), ['host-b']);
    await waitFor('the loss to be counted', () => a.transport.counters().lost === 1 && b.transport.counters().receivedWhileStopped === 3);
    expect(b.imports).toEqual([]);
    expect(() => b.transport.pushFlowState(push(ct('k')), ['host-a'])).toThrow('not started');
    await b.transport.start();
    a.transport.pushFlowState(push(ct('after-restart')), ['host-b']);
    await waitFor('import after restart', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.imports[0].changes).toEqual([{ kind: 'conntrack', key: 'after-restart' }]);
  });

  test('a batch too large for one message arrives as several, all acknowledged', async () => {
    const [a, b] = await nodes(['host-a', 'host-b']);
    const entries = Array.from({ length: 500 }, (_, i) => ct(`router-1:6:167772165:${10000 + i}:134744072:443`));
    const sent = a.transport.pushFlowState(push(...entries), ['host-b']);
    expect(sent).toBeGreaterThan(1);
    await waitFor('every message imported and acked', () => b.imports.length === sent && a.transport.outstanding() === 0);
    expect(b.tables.counts().conntrack).toBe(500);
    expect(b.tunnel.stats().malformedDropped).toBe(0);
  });

  test('the agent\'s wiring: over InProcessDatapath and datapathFlowStateChannel, with loss and a cluster key', async () => {
    const [ta, tb] = await openTunnels(['host-a', 'host-b']);
    const da = new InProcessDatapath({ tunnel: ta });
    const db = new InProcessDatapath({ tunnel: tb });
    let toDrop = 1;
    const { imports, tables, onImport } = importingTables();
    const common = { clusterKey: 'shared secret', resolvePeer: (h: string) => peers.get(h) };
    const a = new FlowStateTransport({ ...common, hostId: 'host-a', channel: datapathFlowStateChannel(da), retransmitTimeoutMs: 20, onImport: () => undefined });
    const b = new FlowStateTransport({
      ...common, hostId: 'host-b', channel: datapathFlowStateChannel(db), onImport, testHooks: { dropIncoming: () => toDrop-- > 0 },
    });
    for (const t of [a, b]) {
      await t.start();
      transports.push(t);
    }
    for (const id of ['host-a', 'host-b'] as const) peers.set(id, { address: IP[id] });
    try {
      a.pushFlowState(push(snat), ['host-b']);
      await waitFor('import after a retransmission, and the ACK', () => imports.length === 1 && a.outstanding() === 0);
      expect(tables.get(snat.key)).toEqual({ ip: 0xc6336401, port: 40123 });
      expect(a.counters().retransmitted).toBeGreaterThanOrEqual(1);
      expect(a.counters()).toMatchObject({ acked: 1, lost: 0, badAuth: 0 });
      expect(b.counters()).toMatchObject({ droppedByTestHook: 1, badAuth: 0, malformed: 0 });
      expect((await db.stats()).unknownTunnelKeyDropped).toBe(0);
    } finally {
      // The datapaths close their tunnel ports (afterEach closing them again is a no-op).
      await Promise.all([da.close(), db.close()]);
    }
  });
});
