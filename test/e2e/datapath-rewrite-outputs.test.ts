// InProcessDatapath's in-place fast path (DESIGN: The packet's way, step 6): a received frame is
// rewritten where it lies in the ring copy, so one frame sent out twice with different rewrites,
// frames that grow (VLAN push) and plain in-place NAT must all leave with exactly the bytes that
// applyModifications gives, in one batch, each flow's frames in order.
import { AfPacketPort, FrameBatch } from '../../src/agent-core/datapath/af-packet.js';
import type { DpAction } from '../../src/agent-core/datapath/datapath.js';
import { InProcessDatapath } from '../../src/agent-core/datapath/in-process-datapath.js';
import { openVxlanTunnel } from '../../src/agent-core/datapath/vxlan-tunnel.js';
import {
  ETHERTYPE_IPV4, Field, type HeaderModification, IPPROTO_UDP, applyModifications, encodeFrame, isDecodeError,
} from '../../src/agent-core/packet/index.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../helpers/netns.js';
import { flowSpec } from './datapath-compliance.js';

const why = netnsUnavailableReason();
if (why !== undefined) console.warn(`datapath rewrite-outputs e2e skipped: ${why}`);
const describeNetns = why === undefined ? describe : describe.skip;

const SRC = 0xc0000201; // 192.0.2.1
const DST = 0xc0000202;
const FLOW_TWICE = 1000;
const FLOW_PUSH = 1001;
const FLOW_SNAT = 1002;
const FRAMES_PER_FLOW = 20;

function udpFrame(dstPort: number, seq: number, udpChecksum?: number): Uint8Array {
  return encodeFrame({
    eth: { dst: 0x020000000b01, src: 0x020000000a01, etherType: ETHERTYPE_IPV4 },
    ip4: { tos: 0, id: seq, df: true, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_UDP, src: SRC, dst: DST, options: new Uint8Array(0) },
    l4: { kind: 'udp', srcPort: 40000 + seq, dstPort, payload: new Uint8Array([seq, 1, 2, 3, 4, 5, 6, 7]), checksum: udpChecksum },
  });
}

/** An IPv4 UDP frame, with or without one 802.1Q tag (anything else on the links is not ours). */
function isTestUdp(f: Uint8Array): boolean {
  const tagged = f[12] === 0x81 && f[13] === 0x00;
  const l3 = tagged ? 18 : 14;
  return f.length >= l3 + 28 && f[l3 - 2] === 0x08 && f[l3 - 1] === 0x00 && f[l3 + 9] === IPPROTO_UDP;
}

/** What each output of `actions` sends for `frame`: the rewrites before it, applied to a copy. */
function expectedOutputs(frame: Uint8Array, actions: readonly DpAction[]): Map<number, number[][]> {
  const out = new Map<number, number[][]>();
  const mods: HeaderModification[] = [];
  for (const a of actions) {
    if (a.kind === 'output') {
      const r = applyModifications(frame, mods);
      if (isDecodeError(r)) throw new Error(`bad test actions: ${r.reason}`);
      out.set(a.port, [...(out.get(a.port) ?? []), Array.from(r)]);
    } else if (a.kind !== 'tunnel') {
      mods.push(a);
    }
  }
  return out;
}

describeNetns('InProcessDatapath: rewrites in place, several outputs, mixed in one batch', () => {
  let lab: NetnsLab;
  let nsDp: string;
  let nsS: string;
  let nsR2: string;
  let nsR3: string;
  let dp: InProcessDatapath | undefined;
  const ports: AfPacketPort[] = [];

  beforeAll(async () => {
    lab = await NetnsLab.create();
    nsDp = await lab.addNamespace('dp');
    nsS = await lab.addNamespace('s');
    nsR2 = await lab.addNamespace('r2');
    nsR3 = await lab.addNamespace('r3');
    await lab.addVeth({ ns: nsS, ifname: 'v1' }, { ns: nsDp, ifname: 'p1' });
    await lab.addVeth({ ns: nsR2, ifname: 'v2' }, { ns: nsDp, ifname: 'p2' });
    await lab.addVeth({ ns: nsR3, ifname: 'v3' }, { ns: nsDp, ifname: 'p3' });
  });

  afterAll(async () => {
    for (const p of ports) p.close();
    await dp?.close();
    await lab?.cleanup();
  });

  test('every output gets the bytes applyModifications gives, in each flow\'s order', async () => {
    const d = new InProcessDatapath({ tunnel: await openVxlanTunnel({ localAddress: '127.0.0.1', port: 0 }) });
    dp = d;
    await d.addPort(1, { kind: 'netdev', ifname: 'p1', netns: nsDp });
    await d.addPort(2, { kind: 'netdev', ifname: 'p2', netns: nsDp });
    await d.addPort(3, { kind: 'netdev', ifname: 'p3', netns: nsDp });
    const actions = new Map<number, DpAction[]>([
      // Out unchanged, then rewritten (NAT to another address and port, TTL down), then rewritten again.
      [FLOW_TWICE, [
        { kind: 'output', port: 2 },
        { kind: 'setField', field: Field.IpDst, value: 0xc6336401 },
        { kind: 'setField', field: Field.L4Dst, value: 2000 },
        { kind: 'decTtl' },
        { kind: 'output', port: 3 },
        { kind: 'setField', field: Field.EthDst, value: 0x020000000c01 },
        { kind: 'output', port: 2 },
      ]],
      // Grows by a tag: cannot stay in the ring copy.
      [FLOW_PUSH, [{ kind: 'pushVlan', vlanId: 7 }, { kind: 'output', port: 3 }]],
      // Source NAT with MAC rewrites: rewritten in place, sent from the ring copy.
      [FLOW_SNAT, [
        { kind: 'setField', field: Field.EthSrc, value: 0x020000000e01 },
        { kind: 'setField', field: Field.IpSrc, value: 0xcb007101 },
        { kind: 'setField', field: Field.L4Src, value: 61000 },
        { kind: 'decTtl' },
        { kind: 'output', port: 3 },
      ]],
    ]);
    for (const [dport, a] of actions) d.installFlow(flowSpec({ [Field.InPort]: 1, [Field.L4Dst]: dport }, a));

    const received = new Map<number, number[][]>([[2, []], [3, []]]);
    for (const [port, ifname, ns] of [[2, 'v2', nsR2], [3, 'v3', nsR3]] as const) {
      const p = AfPacketPort.open(ifname, { netns: ns });
      ports.push(p);
      p.onFrames((batch) => {
        for (const f of batch) if (isTestUdp(f)) received.get(port)!.push(Array.from(f));
      });
    }
    // The flows interleaved in one send, so that they share receive batches. Half the frames carry
    // no UDP checksum (0), half a real one.
    const frames: Uint8Array[] = [];
    const expected = new Map<number, number[][]>([[2, []], [3, []]]);
    for (let i = 0; i < FRAMES_PER_FLOW; i++) {
      for (const dport of [FLOW_TWICE, FLOW_PUSH, FLOW_SNAT]) {
        const f = udpFrame(dport, i, i % 2 === 0 ? 0 : undefined);
        frames.push(f);
        for (const [port, outs] of expectedOutputs(f, actions.get(dport)!)) expected.get(port)!.push(...outs);
      }
    }
    const sender = AfPacketPort.open('v1', { netns: nsS });
    ports.push(sender);
    expect(sender.send(FrameBatch.pack(frames))).toBe(frames.length);

    await waitFor(() => received.get(2)!.length >= expected.get(2)!.length && received.get(3)!.length >= expected.get(3)!.length, {
      what: 'every output frame at the receivers',
    });
    const s = await d.stats();
    expect(s.hits).toBe(frames.length);
    expect(s.upcalls).toBe(0);
    // Same bytes; frames of different flows may be reordered, so compare each flow's frames in order.
    const byFlow = (list: number[][]): Map<string, string[]> => {
      const m = new Map<string, string[]>();
      for (const f of list) {
        const hasTag = f[12] === 0x81 && f[13] === 0x00;
        const flow = `${hasTag ? 'tagged' : 'plain'}:${f[hasTag ? 27 : 23]}:${f.slice(0, 14).join('.')}`;
        m.set(flow, [...(m.get(flow) ?? []), f.join(',')]);
      }
      return m;
    };
    for (const port of [2, 3]) {
      expect(received.get(port)!).toHaveLength(expected.get(port)!.length);
      expect(byFlow(received.get(port)!)).toEqual(byFlow(expected.get(port)!));
    }
  });
});
