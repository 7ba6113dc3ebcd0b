// The receiver: import into the local tables, ACK, dedup by (sender, session, seq) in a bounded window,
// authentication and malformed input counted; and sender + receiver over a lossy, reordering channel.
import fc from 'fast-check';
import {
  DedupWindow, type FlowStateEntry, type OutboundDatagram, PushReceiver, PushSender, createHmacAuthenticator,
  decodeDatagram, encodeDatagram, flowStateEntriesOf, isFlowStateDecodeError,
} from '../../../src/agent-core/flowstate/index.js';
import { LocalTables } from '../../../src/agent-core/agent/local-tables.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import type { StateChange } from '../../../src/agent-core/simulation/index.js';
import { realisticKey } from './arbitraries.js';

const nat: FlowStateEntry = { kind: 'nat', key: 'fwd-snat:r1:6:1:2:3:4', binding: { ip: 0xc6336401, port: 40000 }, deviceId: 'r1', leasedIp: 0xc6336401, lifetimeMs: 60000 };
const ct: FlowStateEntry = { kind: 'conntrack', key: 'r1:6:1:2:3:4', lifetimeMs: 60000 };

function ackOf(payload: Uint8Array | undefined) {
  if (payload === undefined) throw new Error('no ack');
  const m = decodeDatagram(payload);
  if (isFlowStateDecodeError(m) || m.type !== 'ack') throw new Error('not an ACK');
  return m;
}

describe('PushReceiver', () => {
  test('imports a push into LocalTables and ACKs it to the sender\'s session', () => {
    const sender = new PushSender({ hostId: 'gw-1', epoch: 11 });
    const receiver = new PushReceiver({ hostId: 'gw-2', epoch: 22 });
    const tables = new LocalTables();
    const [d] = sender.pushFlowState({ ingressPortId: 'up1', egressPortIds: ['vm1'], entries: [ct, nat] }, ['gw-2'], 0);
    const r = receiver.onDatagram(d.payload);
    if (r.kind !== 'state') throw new Error(r.kind);
    expect(r.duplicate).toBe(false);
    expect(r.message).toMatchObject({ sender: 'gw-1', ingressPortId: 'up1', egressPortIds: ['vm1'] });
    tables.apply(r.changes, 0);
    expect(tables.has(ct.key)).toBe(true);
    expect(tables.get(nat.key)).toEqual({ ip: 0xc6336401, port: 40000 });
    // The imported lease marks the port as used here too: this host will not hand it out again.
    expect(tables.pickPort('r1', 0xc6336401, 40000, 40000, 0)).toBeUndefined();
    const ack = ackOf(r.ack);
    expect(ack).toMatchObject({ sender: 'gw-2', epoch: 22, ackedSender: 'gw-1', ackedEpoch: 11, seqs: [1] });
    // The ACK, fed back through a receiver on the sender's side, clears the message.
    const back = new PushReceiver({ hostId: 'gw-1', epoch: 11 }).onDatagram(r.ack as Uint8Array);
    if (back.kind !== 'ack') throw new Error(back.kind);
    expect(sender.onAckMessage(back.message, 1)).toBe(1);
    expect(sender.outstandingCount()).toBe(0);
  });

  test('state changes from a simulation survive the trip unchanged', () => {
    const changes: StateChange[] = [
      { kind: 'conntrack', key: 'c' },
      { kind: 'nat', key: 'n4', binding: { ip: 1, port: 2 }, deviceId: 'd' },
      { kind: 'nat', key: 'n6', binding: { ip: 0x20010db8n << 96n, port: 3 }, deviceId: 'd', leasedIp: 0x20010db8n << 96n },
      { kind: 'macLearned', bridgeId: 'b', vlanId: 0, mac: 1, portId: 'p' },
    ];
    const sender = new PushSender({ hostId: 'a', epoch: 1 });
    const [d] = sender.pushFlowState({ ingressPortId: 'i', egressPortIds: [], entries: flowStateEntriesOf(changes, 5000) }, ['b'], 0);
    const r = new PushReceiver({ hostId: 'b', epoch: 2 }).onDatagram(d.payload);
    if (r.kind !== 'state') throw new Error(r.kind);
    // MAC learning goes through the store, not the push.
    expect(r.changes).toEqual(changes.slice(0, 3));
    expect(r.message.entries.every((e) => e.lifetimeMs === 5000)).toBe(true);
  });

  test('a retransmission is ACKed again but not imported twice', () => {
    const sender = new PushSender({ hostId: 'a', epoch: 1 });
    const receiver = new PushReceiver({ hostId: 'b', epoch: 2 });
    const [d] = sender.pushFlowState({ ingressPortId: 'i', egressPortIds: [], entries: [ct] }, ['b'], 0);
    const first = receiver.onDatagram(d.payload);
    const again = receiver.onDatagram(sender.poll(20)[0].payload);
    expect(first).toMatchObject({ kind: 'state', duplicate: false });
    expect(again).toMatchObject({ kind: 'state', duplicate: true, changes: [] });
    if (again.kind !== 'state') throw new Error();
    expect(ackOf(again.ack).seqs).toEqual([1]);
    expect(receiver.counters()).toMatchObject({ received: 2, duplicates: 1, entriesImported: 1, acksSent: 2 });
  });

  test('the same sequence number from a restarted sender (new epoch) is new state', () => {
    const receiver = new PushReceiver({ hostId: 'b', epoch: 2 });
    const before = new PushSender({ hostId: 'a', epoch: 100 }).pushFlowState({ ingressPortId: 'i', egressPortIds: [], entries: [ct] }, ['b'], 0);
    const after = new PushSender({ hostId: 'a', epoch: 101 }).pushFlowState({ ingressPortId: 'i', egressPortIds: [], entries: [nat] }, ['b'], 0);
    expect(receiver.onDatagram(before[0].payload)).toMatchObject({ duplicate: false });
    expect(receiver.onDatagram(after[0].payload)).toMatchObject({ duplicate: false, changes: [{ kind: 'nat' }] });
  });

  test('bad or missing tags are counted as bad-auth and import nothing', () => {
    const key = createHmacAuthenticator('k1');
    const receiver = new PushReceiver({ hostId: 'b', epoch: 2, auth: key });
    const push = { ingressPortId: 'i', egressPortIds: [], entries: [ct] };
    const wrong = new PushSender({ hostId: 'a', epoch: 1, auth: createHmacAuthenticator('k2') }).pushFlowState(push, ['b'], 0);
    const none = new PushSender({ hostId: 'a', epoch: 1 }).pushFlowState(push, ['b'], 0);
    const right = new PushSender({ hostId: 'a', epoch: 1, auth: key }).pushFlowState(push, ['b'], 0);
    expect(receiver.onDatagram(wrong[0].payload)).toEqual({ kind: 'dropped', reason: 'bad-tag' });
    expect(receiver.onDatagram(none[0].payload)).toEqual({ kind: 'dropped', reason: 'missing-tag' });
    const ok = receiver.onDatagram(right[0].payload);
    expect(ok).toMatchObject({ kind: 'state', duplicate: false });
    if (ok.kind !== 'state') throw new Error();
    // Its ACK is tagged with the same key.
    expect(isFlowStateDecodeError(decodeDatagram(ok.ack as Uint8Array, key))).toBe(false);
    expect(receiver.counters()).toMatchObject({ badAuth: 2, received: 1, malformed: 0 });
  });

  test('malformed datagrams, other tunnel keys and own messages are dropped and counted', () => {
    const receiver = new PushReceiver({ hostId: 'b', epoch: 2 });
    expect(receiver.onDatagram(new Uint8Array([1, 2, 3]))).toMatchObject({ kind: 'dropped', reason: 'not-vxlan' });
    expect(receiver.onDatagram(encodeVxlan(5, new Uint8Array(20)))).toMatchObject({ reason: 'wrong-vni' });
    expect(receiver.onDatagram(encodeVxlan(TUNNEL_KEY_FLOW_STATE, new Uint8Array(20)))).toMatchObject({ reason: 'bad-magic' });
    const own = encodeDatagram({ type: 'ack', sender: 'b', epoch: 2, ackedSender: 'x', ackedEpoch: 0, seqs: [] });
    expect(receiver.onDatagram(own as Uint8Array)).toEqual({ kind: 'dropped', reason: 'own-message' });
    expect(receiver.counters()).toMatchObject({ malformed: 3, ownMessages: 1, received: 0 });
  });
});

describe('DedupWindow', () => {
  test('remembers the last N sequence numbers per sender session', () => {
    const w = new DedupWindow(4, 10);
    for (const s of [1, 2, 3, 4]) expect(w.checkAndRecord('a', 1, s)).toBe(false);
    expect(w.checkAndRecord('a', 1, 2)).toBe(true);
    expect(w.checkAndRecord('a', 1, 5)).toBe(false); // pushes 1 out
    expect(w.checkAndRecord('a', 1, 1)).toBe(false);
    expect(w.checkAndRecord('a', 1, 5)).toBe(true);
    expect(w.checkAndRecord('b', 1, 5)).toBe(false);
    expect(w.checkAndRecord('a', 2, 5)).toBe(false);
  });

  test('forgets the least recently heard sender sessions past its bound', () => {
    const w = new DedupWindow(8, 2);
    w.checkAndRecord('a', 1, 1);
    w.checkAndRecord('b', 1, 1);
    w.checkAndRecord('a', 1, 2); // a heard more recently than b
    w.checkAndRecord('c', 1, 1); // evicts b
    expect(w.senders).toBe(2);
    expect(w.checkAndRecord('a', 1, 1)).toBe(true);
    expect(w.checkAndRecord('b', 1, 1)).toBe(false);
  });
});

describe('sender and receiver over a lossy, reordering channel', () => {
  test('property: with at most maxRetries losses per message, everything is imported exactly once and acked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(realisticKey, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 8 }),
        fc.infiniteStream(fc.boolean()),
        fc.infiniteStream(fc.nat(10)),
        (pushes, lossStream, delayStream) => {
          const maxRetries = 3;
          const sender = new PushSender({ hostId: 'a', epoch: 9, maxRetries, retransmitTimeoutMs: 20 });
          const receiver = new PushReceiver({ hostId: 'b', epoch: 3 });
          const backToSender = new PushReceiver({ hostId: 'a', epoch: 9 });
          const imported: string[] = [];
          const lossesPerSeq = new Map<string, number>();
          const inFlight: { at: number; to: 'a' | 'b'; payload: Uint8Array }[] = [];
          const loss = lossStream[Symbol.iterator]();
          const delay = delayStream[Symbol.iterator]();
          const transmit = (to: 'a' | 'b', payload: Uint8Array, now: number): void => {
            // Lose at most maxRetries copies of any one datagram, so each gets through in the end.
            const id = `${to}:${[...payload.subarray(0, 48)].join(',')}`;
            const lost = lossesPerSeq.get(id) ?? 0;
            if (loss.next().value === true && lost < maxRetries) {
              lossesPerSeq.set(id, lost + 1);
              return;
            }
            inFlight.push({ at: now + delay.next().value, to, payload });
          };
          const send = (out: OutboundDatagram[], now: number): void => out.forEach((d) => transmit('b', d.payload, now));
          let now = 0;
          for (const keys of pushes) {
            send(sender.pushFlowState({ ingressPortId: 'i', egressPortIds: [], entries: keys.map((key) => ({ kind: 'conntrack', key, lifetimeMs: 1 })) }, ['b'], now), now);
            now += 1;
          }
          for (; now < 2000 && (sender.outstandingCount() > 0 || inFlight.length > 0); now++) {
            inFlight.sort((x, y) => x.at - y.at);
            while (inFlight.length > 0 && inFlight[0].at <= now) {
              const d = inFlight.shift() as (typeof inFlight)[number];
              if (d.to === 'b') {
                const r = receiver.onDatagram(d.payload);
                if (r.kind !== 'state') throw new Error(r.kind);
                imported.push(...r.changes.map((c) => (c.kind === 'conntrack' ? c.key : '?')));
                if (r.ack !== undefined) transmit('a', r.ack, now);
              } else {
                const r = backToSender.onDatagram(d.payload);
                if (r.kind !== 'ack') throw new Error(r.kind);
                sender.onAckMessage(r.message, now);
              }
            }
            send(sender.poll(now), now);
          }
          expect(imported).toEqual(expect.arrayContaining(pushes.flat()));
          expect(imported).toHaveLength(pushes.flat().length);
          // An ACK may be lost until the data's last retry is spent, so a message can be given up
          // even though it arrived; but nothing that was not delivered can have been acknowledged.
          const c = sender.counters();
          expect(c.acked + c.lost).toBe(c.messagesSent);
          expect(sender.outstandingCount()).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
