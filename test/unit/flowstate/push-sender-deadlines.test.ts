// The sender's retransmission deadlines under many messages, targets, ACKs and polls: every message
// ends acknowledged, lost after its retries, dropped for overflow or abandoned, exactly once; a poll
// retransmits only what is due; nextDeadline is the earliest deadline outstanding.
import fc from 'fast-check';
import { PushSender, decodeDatagram, isFlowStateDecodeError, type OutboundDatagram } from '../../../src/agent-core/flowstate/index.js';

const seqOf = (d: OutboundDatagram): number => {
  const m = decodeDatagram(d.payload);
  if (isFlowStateDecodeError(m) || m.type !== 'state') throw new Error('not a STATE datagram');
  return m.seq;
};

test('every message is accounted for once, and polls follow the deadlines', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), targets: fc.subarray(['b', 'c', 'd'], { minLength: 1 }) }),
    fc.record({ kind: fc.constant('ack' as const), target: fc.constantFrom('b', 'c', 'd'), pick: fc.nat() }),
    fc.record({ kind: fc.constant('poll' as const), advance: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ kind: fc.constant('forget' as const), target: fc.constantFrom('b', 'c', 'd') }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
    const s = new PushSender({ hostId: 'a', epoch: 1, retransmitTimeoutMs: 10, maxRetries: 2, maxOutstandingPerTarget: 8 });
    /** target → seq → deadline, as the model sees it. */
    const model = new Map<string, Map<number, { deadline: number; timeout: number; retries: number }>>();
    let now = 0;
    let key = 0;
    for (const o of ops) {
      if (o.kind === 'push') {
        for (const d of s.pushFlowState({ ingressPortId: 'in', egressPortIds: [], entries: [{ kind: 'conntrack', key: `k${key++}`, lifetimeMs: 1 }] }, o.targets, now)) {
          let q = model.get(d.target);
          if (q === undefined) model.set(d.target, (q = new Map()));
          if (q.size >= 8) q.delete(q.keys().next().value!);
          q.set(seqOf(d), { deadline: now + 10, timeout: 10, retries: 0 });
        }
      } else if (o.kind === 'ack') {
        const q = model.get(o.target);
        const seqs = [...(q?.keys() ?? [])];
        if (seqs.length === 0) continue;
        const seq = seqs[o.pick % seqs.length]!;
        expect(s.onAck(o.target, [seq], now)).toBe(1);
        q!.delete(seq);
      } else if (o.kind === 'forget') {
        s.forgetTarget(o.target);
        model.delete(o.target);
      } else {
        now += o.advance;
        const expected: string[] = [];
        for (const [target, q] of model) {
          for (const [seq, m] of q) {
            if (m.deadline > now) continue;
            if (m.retries >= 2) q.delete(seq);
            else {
              m.retries++;
              m.timeout *= 2;
              m.deadline = now + m.timeout;
              expected.push(`${target}:${seq}`);
            }
          }
        }
        expect(s.poll(now).map((d) => `${d.target}:${seqOf(d)}`).sort()).toEqual(expected.sort());
      }
      const deadlines = [...model.values()].flatMap((q) => [...q.values()].map((m) => m.deadline));
      expect(s.nextDeadline()).toBe(deadlines.length === 0 ? undefined : Math.min(...deadlines));
      expect(s.outstandingCount()).toBe(deadlines.length);
    }
    const c = s.counters();
    expect(c.messagesSent).toBe(c.acked + c.lost + c.overflowDropped + c.abandoned + s.outstandingCount());
  }));
});
