// The sender's state machine with time passed in: batching, ACKs, retransmission with doubling
// timeouts, bounded retries, bounded memory, and the counters for each.
import {
  type FlowStateEntry, type FlowStatePush, type OutboundDatagram, PushSender, decodeDatagram, isFlowStateDecodeError,
  type StateMessage,
} from '../../../src/agent-core/flowstate/index.js';

const ct = (key: string): FlowStateEntry => ({ kind: 'conntrack', key, lifetimeMs: 60000 });
const push = (...keys: string[]): FlowStatePush => ({ ingressPortId: 'in', egressPortIds: ['out'], entries: keys.map(ct) });

function state(d: OutboundDatagram): StateMessage {
  const m = decodeDatagram(d.payload);
  if (isFlowStateDecodeError(m) || m.type !== 'state') throw new Error('not a STATE datagram');
  return m;
}

describe('PushSender', () => {
  test('one message per target, same sequence number and bytes for all targets', () => {
    const s = new PushSender({ hostId: 'a', epoch: 5 });
    const out = s.pushFlowState(push('k1', 'k2'), ['b', 'c', 'b'], 0);
    expect(out.map((d) => d.target)).toEqual(['b', 'c']);
    const [mb, mc] = out.map(state);
    expect(mb).toEqual(mc);
    expect(mb).toMatchObject({ sender: 'a', epoch: 5, ingressPortId: 'in', egressPortIds: ['out'], entries: [ct('k1'), ct('k2')] });
    expect(s.counters()).toMatchObject({ messagesSent: 2, entriesSent: 4 });
    expect(s.outstandingCount()).toBe(2);
  });

  test('pushes enqueued in the same tick share a message per (ports, targets)', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    s.enqueue(push('k1'), ['b']);
    s.enqueue(push('k2'), ['b']);
    s.enqueue({ ...push('k3'), ingressPortId: 'other' }, ['b']);
    s.enqueue(push('k4'), ['b', 'c']);
    const out = s.flush(0);
    expect(out.map((d) => [d.target, state(d).entries.map((e) => e.key)])).toEqual([
      ['b', ['k1', 'k2']], ['b', ['k3']], ['b', ['k4']], ['c', ['k4']],
    ]);
    expect(s.flush(1)).toEqual([]);
  });

  test('nothing to send for no targets or no entries', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    expect(s.pushFlowState(push('k'), [], 0)).toEqual([]);
    expect(s.pushFlowState(push(), ['b'], 0)).toEqual([]);
    expect(s.nextDeadline()).toBeUndefined();
  });

  test('an ACK clears the message; nothing is retransmitted', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1, retransmitTimeoutMs: 20 });
    const [d] = s.pushFlowState(push('k'), ['b'], 100);
    expect(s.nextDeadline()).toBe(120);
    expect(s.onAck('b', [state(d).seq], 105)).toBe(1);
    expect(s.nextDeadline()).toBeUndefined();
    expect(s.poll(1000)).toEqual([]);
    expect(s.counters()).toMatchObject({ acked: 1, retransmitted: 0, lost: 0 });
    // Acknowledging again (a duplicate ACK) changes nothing but a counter.
    expect(s.onAck('b', [state(d).seq], 106)).toBe(0);
    expect(s.counters().duplicateAcks).toBe(1);
  });

  test('an ACK from another host does not clear the target\'s copy', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    const out = s.pushFlowState(push('k'), ['b', 'c'], 0);
    s.onAck('c', [state(out[0]).seq], 1);
    expect(s.outstandingCount('b')).toBe(1);
    expect(s.outstandingCount('c')).toBe(0);
  });

  test('retransmits at 20, 40, 80 ms intervals, then gives up and counts the loss', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1, retransmitTimeoutMs: 20, maxRetries: 3 });
    const [first] = s.pushFlowState(push('k'), ['b'], 0);
    expect(s.poll(19)).toEqual([]);
    const times: number[] = [];
    for (let t = 0; t <= 1000; t++) {
      for (const d of s.poll(t)) {
        expect(d).toEqual(first);
        times.push(t);
      }
    }
    expect(times).toEqual([20, 60, 140]);
    // Given up at the deadline after the last retry: 140 + 160.
    expect(s.counters()).toMatchObject({ retransmitted: 3, lost: 1, acked: 0 });
    expect(s.outstandingCount()).toBe(0);
  });

  test('gives up exactly at the last deadline', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1, retransmitTimeoutMs: 20, maxRetries: 3 });
    s.pushFlowState(push('k'), ['b'], 0);
    s.poll(20);
    s.poll(60);
    s.poll(140);
    expect(s.nextDeadline()).toBe(300);
    s.poll(299);
    expect(s.counters().lost).toBe(0);
    s.poll(300);
    expect(s.counters().lost).toBe(1);
  });

  test('an ACK after a retransmission still clears it', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    const [d] = s.pushFlowState(push('k'), ['b'], 0);
    expect(s.poll(20)).toHaveLength(1);
    s.onAck('b', [state(d).seq], 25);
    expect(s.poll(10_000)).toEqual([]);
    expect(s.counters()).toMatchObject({ retransmitted: 1, acked: 1, lost: 0 });
  });

  test('maxRetries 0: no retransmission, lost at the first timeout', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1, maxRetries: 0, retransmitTimeoutMs: 5 });
    s.pushFlowState(push('k'), ['b'], 0);
    expect(s.poll(5)).toEqual([]);
    expect(s.counters()).toMatchObject({ retransmitted: 0, lost: 1 });
  });

  test('outstanding messages per target are capped: the oldest are dropped and counted', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1, maxOutstandingPerTarget: 3 });
    const seqs = [1, 2, 3, 4, 5].map((i) => state(s.pushFlowState(push(`k${i}`), ['b'], i)[0]).seq);
    expect(s.outstandingCount('b')).toBe(3);
    expect(s.counters().overflowDropped).toBe(2);
    // The two oldest are no longer tracked: their ACKs count as duplicates.
    expect(s.onAck('b', seqs, 10)).toBe(3);
    expect(s.counters().duplicateAcks).toBe(2);
  });

  test('sequence numbers increase per message and wrap at 2^32', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    const a = state(s.pushFlowState(push('x'), ['b'], 0)[0]).seq;
    const b = state(s.pushFlowState(push('y'), ['c'], 0)[0]).seq;
    expect(b).toBe(a + 1);
    const w = new PushSender({ hostId: 'a', epoch: 1, initialSeq: 0xffffffff });
    expect(state(w.pushFlowState(push('x'), ['b'], 0)[0]).seq).toBe(0xffffffff);
    expect(state(w.pushFlowState(push('y'), ['b'], 0)[0]).seq).toBe(0);
  });

  test('ACKs are applied only for this host and this session', () => {
    const s = new PushSender({ hostId: 'a', epoch: 7 });
    const seq = state(s.pushFlowState(push('k'), ['b'], 0)[0]).seq;
    const ack = { type: 'ack' as const, sender: 'b', epoch: 99, ackedSender: 'a', ackedEpoch: 7, seqs: [seq] };
    expect(s.onAckMessage({ ...ack, ackedEpoch: 6 }, 1)).toBe(0);
    expect(s.onAckMessage({ ...ack, ackedSender: 'z' }, 1)).toBe(0);
    expect(s.counters().acksIgnored).toBe(2);
    expect(s.onAckMessage(ack, 1)).toBe(1);
  });

  test('forgetTarget drops what a departed host had outstanding', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    s.pushFlowState(push('k1', 'k2'), ['b'], 0);
    s.pushFlowState(push('k3'), ['b', 'c'], 0);
    s.forgetTarget('b');
    expect(s.counters().abandoned).toBe(2);
    expect(s.outstandingCount()).toBe(1);
  });

  test('entries that cannot be encoded are counted, the rest still go', () => {
    const s = new PushSender({ hostId: 'a', epoch: 1 });
    const out = s.pushFlowState({ ingressPortId: 'in', egressPortIds: [], entries: [ct('ok'), ct(''), ct('k'.repeat(2000))] }, ['b'], 0);
    expect(out).toHaveLength(1);
    expect(state(out[0]).entries).toEqual([ct('ok')]);
    expect(s.counters().entriesRejected).toBe(2);
    const bad = s.pushFlowState({ ingressPortId: 'in', egressPortIds: [], entries: [{ kind: 'nat', key: 'n', binding: { ip: -1, port: 1 }, deviceId: 'd', lifetimeMs: 0 }] }, ['b'], 0);
    expect(bad).toEqual([]);
    expect(s.counters().entriesRejected).toBe(3);
  });
});
