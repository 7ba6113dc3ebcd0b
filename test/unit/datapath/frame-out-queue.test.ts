// FrameOutQueue (datapath/frame-out-queue.ts): views of one buffer go by offset with no copy, other
// frames are copied, one send per buffer, and the queue is empty and reusable after each flush.
import { FrameOutQueue, type PackedSend } from '../../../src/agent-core/datapath/frame-out-queue.js';

interface SendCall {
  data: Uint8Array;
  frames: number[][];
}

function recorder(): { send: PackedSend; calls: SendCall[] } {
  const calls: SendCall[] = [];
  const send: PackedSend = (data, offsets, lengths, count) => {
    const frames: number[][] = [];
    for (let i = 0; i < count; i++) frames.push(Array.from(data.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
    calls.push({ data, frames });
    return count;
  };
  return { send, calls };
}

test('frames viewing one buffer are sent from it by offset; others are copied and sent after them', () => {
  const ring = new Uint8Array(64).map((_, i) => i);
  const q = new FrameOutQueue();
  const { send, calls } = recorder();
  const other = new Uint8Array([200, 201, 202]);
  q.push(ring.subarray(4, 8));
  q.push(other);
  q.push(ring.subarray(20, 22));
  expect(q.length).toBe(3);
  expect(q.flush(send)).toBe(3);
  expect(calls).toHaveLength(2);
  expect(calls[0]!.data.buffer).toBe(ring.buffer);
  expect(calls[0]!.frames).toEqual([[4, 5, 6, 7], [20, 21]]);
  expect(calls[1]!.data.buffer).not.toBe(other.buffer);
  expect(calls[1]!.frames).toEqual([[200, 201, 202]]);
  expect(q.length).toBe(0);
  // The copy was taken at push: changing the source afterwards does not reach the queue.
  other[0] = 0;
  q.push(other);
  q.flush(send);
  expect(calls[2]!.frames).toEqual([[0, 201, 202]]);
  // A frame that is its whole buffer is copied even when it comes first; ring views after it still go by offset.
  q.push(other);
  q.push(ring.subarray(1, 3));
  q.flush(send);
  expect(calls.slice(3).map((c) => [c.data.buffer === ring.buffer, c.frames])).toEqual([[true, [[1, 2]]], [false, [[0, 201, 202]]]]);
});

test('grows past its initial room for frames and bytes and stays correct across flushes', () => {
  const q = new FrameOutQueue();
  const { send, calls } = recorder();
  const ring = new Uint8Array(4000).map((_, i) => i & 0xff);
  const big = Array.from({ length: 700 }, (_, i) => new Uint8Array(150).fill(i & 0xff));
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 1000; i++) q.push(ring.subarray(i * 4, i * 4 + 4));
    for (const f of big) q.push(f);
    expect(q.flush(send)).toBe(1700);
  }
  expect(calls).toHaveLength(4);
  expect(calls[2]!.frames[999]).toEqual([3996 & 0xff, 3997 & 0xff, 3998 & 0xff, 3999 & 0xff]);
  expect(calls[3]!.frames.map((f) => f[0])).toEqual(big.map((_, i) => i & 0xff));
  expect(calls[3]!.frames.every((f) => f.length === 150)).toBe(true);
});

test('a send that throws leaves the queue empty; clear() drops without sending', () => {
  const q = new FrameOutQueue();
  const ring = new Uint8Array(16);
  q.push(ring.subarray(0, 4));
  expect(() => q.flush(() => { throw new Error('ENETDOWN'); })).toThrow('ENETDOWN');
  expect(q.length).toBe(0);
  q.push(ring.subarray(0, 4));
  q.clear();
  const { send, calls } = recorder();
  expect(q.flush(send)).toBe(0);
  expect(calls).toHaveLength(0);
});
