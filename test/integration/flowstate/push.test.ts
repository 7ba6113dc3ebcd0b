// The flow-state push over real UDP sockets on loopback: delivery and ACK, retransmission through
// loss (dropped by the transport's test hook), cluster-key authentication, giving up on a stopped
// receiver, and malformed datagrams counted without harm. Every wait is bounded.
import { createSocket } from 'node:dgram';
import {
  FlowStateTransport, type FlowStateTransportOptions, type ImportedState, encodeMessage,
} from '../../../src/agent-core/flowstate/index.js';
import type { LocalTables } from '../../../src/agent-core/agent/local-tables.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import { RELAXED_RETRANSMIT_MS, ct, importingTables, push, snat, waitFor } from './push-kit.js';

const LOOPBACK = '127.0.0.1';

interface Node {
  readonly id: string;
  readonly transport: FlowStateTransport;
  readonly imports: ImportedState[];
  readonly tables: LocalTables;
}

const addresses = new Map<string, { address: string; port: number }>();
const running: FlowStateTransport[] = [];

async function node(id: string, extra: Partial<FlowStateTransportOptions> = {}): Promise<Node> {
  const { imports, tables, onImport } = importingTables();
  const transport = new FlowStateTransport({
    hostId: id,
    bindAddress: LOOPBACK,
    port: 0,
    retransmitTimeoutMs: RELAXED_RETRANSMIT_MS,
    resolvePeer: (h) => addresses.get(h),
    onImport,
    ...extra,
  });
  await transport.start();
  addresses.set(id, transport.address());
  running.push(transport);
  return { id, transport, imports, tables };
}


afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.stop()));
  addresses.clear();
});

describe('flow-state push over UDP (loopback)', () => {
  test('delivered to two peers, imported into their tables, and acknowledged', async () => {
    const a = await node('host-a');
    const b = await node('host-b');
    const c = await node('host-c');
    expect(new Set([a, b, c].map((n) => n.transport.address().port)).size).toBe(3);
    expect(a.transport.pushFlowState(push(ct('router-1:6:167772165:51000:134744072:443'), snat), ['host-b', 'host-c'])).toBe(2);
    await waitFor('both imports and both ACKs', () => b.imports.length === 1 && c.imports.length === 1 && a.transport.outstanding() === 0);
    for (const n of [b, c]) {
      expect(n.imports[0]).toMatchObject({ sender: 'host-a', ingressPortId: 'vm-port-1', egressPortIds: ['uplink-1'] });
      expect(n.tables.has('router-1:6:167772165:51000:134744072:443')).toBe(true);
      expect(n.tables.get(snat.key)).toEqual({ ip: 0xc6336401, port: 40123 });
    }
    expect(a.transport.counters()).toMatchObject({ messagesSent: 2, acked: 2, retransmitted: 0, lost: 0, acksReceived: 2 });
    expect(b.transport.counters()).toMatchObject({ received: 1, entriesImported: 2, acksSent: 1 });
  });

  test('the first datagrams lost on the way in: state arrives by retransmission, imported once', async () => {
    let toDrop = 2;
    const a = await node('host-a', { retransmitTimeoutMs: 20 });
    const b = await node('host-b', { testHooks: { dropIncoming: () => toDrop-- > 0 } });
    a.transport.pushFlowState(push(ct('k1'), ct('k2')), ['host-b']);
    await waitFor('import after retransmission', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.imports[0].changes).toEqual([{ kind: 'conntrack', key: 'k1' }, { kind: 'conntrack', key: 'k2' }]);
    const rb = b.transport.counters();
    expect(rb.droppedByTestHook).toBe(2);
    // On a loaded machine an ACK can be late enough for a spurious retransmission: never a second import.
    expect(rb.received - rb.duplicates).toBe(1);
    expect(rb.entriesImported).toBe(2);
    const ra = a.transport.counters();
    expect(ra.retransmitted).toBeGreaterThanOrEqual(2);
    expect(ra).toMatchObject({ acked: 1, lost: 0 });
  });

  test('lost ACKs: the retransmission is acknowledged again but not imported twice', async () => {
    let acksToDrop = 1;
    const a = await node('host-a', { retransmitTimeoutMs: 20, testHooks: { dropIncoming: () => acksToDrop-- > 0 } });
    const b = await node('host-b');
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('ACK of the retransmission', () => a.transport.outstanding() === 0);
    expect(b.imports).toHaveLength(1);
    const rb = b.transport.counters();
    expect(rb.duplicates).toBeGreaterThanOrEqual(1);
    expect(rb.received - rb.duplicates).toBe(1);
    expect(rb.acksSent).toBe(rb.received);
    expect(a.transport.counters().retransmitted).toBeGreaterThanOrEqual(1);
    expect(a.transport.counters()).toMatchObject({ acked: 1, lost: 0 });
  });

  test('with the same cluster key on both sides the push works', async () => {
    const a = await node('host-a', { clusterKey: 'shared secret' });
    const b = await node('host-b', { clusterKey: 'shared secret' });
    a.transport.pushFlowState(push(snat), ['host-b']);
    await waitFor('authenticated import and ACK', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.transport.counters()).toMatchObject({ badAuth: 0, received: 1 });
    expect(a.transport.counters()).toMatchObject({ badAuth: 0, acked: 1 });
  });

  test('with mismatched keys the receiver counts bad-auth, imports nothing, and the sender gives up', async () => {
    const a = await node('host-a', { clusterKey: 'key one', retransmitTimeoutMs: 10, maxRetries: 2 });
    const b = await node('host-b', { clusterKey: 'key two' });
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('sender to give up', () => a.transport.counters().lost === 1 && b.transport.counters().badAuth === 3);
    expect(b.imports).toEqual([]);
    expect(b.tables.counts().conntrack).toBe(0);
    expect(b.transport.counters()).toMatchObject({ badAuth: 3, received: 0, acksSent: 0 });
  });

  test('a keyed receiver refuses untagged pushes', async () => {
    const a = await node('host-a');
    const b = await node('host-b', { clusterKey: 'secret', maxRetries: 1 });
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('bad-auth counted twice (first send and retry)', () => b.transport.counters().badAuth === 2);
    expect(b.imports).toEqual([]);
  });

  test('a stopped receiver: the sender retries a bounded number of times, then counts the loss', async () => {
    const a = await node('host-a', { retransmitTimeoutMs: 15, maxRetries: 3 });
    const b = await node('host-b');
    await b.transport.stop();
    const started = Date.now();
    a.transport.pushFlowState(push(ct('k')), ['host-b']);
    await waitFor('the loss to be counted', () => a.transport.counters().lost === 1);
    // 15 + 30 + 60 + 120 ms of waiting in total, give or take timer granularity.
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(a.transport.counters()).toMatchObject({ messagesSent: 1, retransmitted: 3, acked: 0, lost: 1 });
    expect(a.transport.outstanding()).toBe(0);
  });

  test('an unknown peer address: the datagrams are counted as unsendable, the message eventually lost', async () => {
    const a = await node('host-a', { retransmitTimeoutMs: 5, maxRetries: 1 });
    a.transport.pushFlowState(push(ct('k')), ['nowhere']);
    await waitFor('the loss', () => a.transport.counters().lost === 1);
    expect(a.transport.counters().unknownPeers).toBe(2);
  });

  test('malformed datagrams sent to the port are counted and the transport keeps working', async () => {
    const a = await node('host-a');
    const b = await node('host-b');
    const raw = createSocket('udp4');
    const junk: Uint8Array[] = [
      new Uint8Array([1, 2, 3]),
      new Uint8Array(1400).fill(0xff),
      encodeVxlan(42, new Uint8Array(30)),
      encodeVxlan(TUNNEL_KEY_FLOW_STATE, new Uint8Array([0x54, 0x47, 0x46, 0x53, 9, 1, 0, 0, 0, 0, 0, 0])),
      encodeVxlan(TUNNEL_KEY_FLOW_STATE, (encodeMessage({ type: 'ack', sender: 'x', epoch: 0, ackedSender: 'y', ackedEpoch: 0, seqs: [1] }) as Uint8Array).subarray(0, 17)),
      new Uint8Array(0),
    ];
    try {
      const { port } = b.transport.address();
      for (const d of junk) await new Promise<void>((resolve, reject) => raw.send(d, port, LOOPBACK, (err) => (err ? reject(err) : resolve())));
      await waitFor('all junk counted', () => b.transport.counters().malformed === junk.length);
    } finally {
      raw.close();
    }
    a.transport.pushFlowState(push(ct('after-junk')), ['host-b']);
    await waitFor('a good push after the junk', () => b.imports.length === 1 && a.transport.outstanding() === 0);
    expect(b.transport.counters()).toMatchObject({ malformed: junk.length, received: 1, badAuth: 0 });
  });

  test('a batch too large for one datagram arrives as several messages, all acknowledged', async () => {
    const a = await node('host-a');
    const b = await node('host-b');
    const entries = Array.from({ length: 500 }, (_, i) => ct(`router-1:6:167772165:${10000 + i}:134744072:443`));
    const sent = a.transport.pushFlowState(push(...entries), ['host-b']);
    expect(sent).toBeGreaterThan(1);
    await waitFor('every message imported and acked', () => b.imports.length === sent && a.transport.outstanding() === 0);
    expect(b.tables.counts().conntrack).toBe(500);
  });

  test('start/stop lifecycle: restartable, push refused while stopped, the port is released', async () => {
    const a = await node('host-a');
    const { port } = a.transport.address();
    await a.transport.stop();
    expect(a.transport.running).toBe(false);
    expect(() => a.transport.pushFlowState(push(ct('k')), ['host-b'])).toThrow('not started');
    await a.transport.stop(); // idempotent
    const again = new FlowStateTransport({ hostId: 'host-z', bindAddress: LOOPBACK, port, resolvePeer: () => undefined, onImport: () => undefined });
    await again.start();
    running.push(again);
    expect(again.address().port).toBe(port);
    await expect(new FlowStateTransport({ hostId: 'dup', bindAddress: LOOPBACK, port, resolvePeer: () => undefined, onImport: () => undefined }).start()).rejects.toThrow();
  });
});
