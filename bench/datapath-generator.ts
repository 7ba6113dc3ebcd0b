// The traffic generator of bench/datapath.bench.ts: pre-built 64-byte UDP frames sent in batches
// through the project's AF_PACKET addon (sendmmsg) from inside a source namespace (STACK-NOTES:
// Packets: iperf3 and trafgen cannot outrun a kernel gateway; this can). Runs as its own process,
// pinned by the caller; takes one JSON command a line on stdin and answers one JSON line each.
//   {"op":"open","id":"agent","netns":NS,"ifname":"eth0","srcMac":..,"dstMac":..,"srcIp":..,"dstIp":..}
//   {"op":"send","id":"agent","pps":0,"ms":2000,"newFlows":false}   (pps 0 = as fast as it can)
import { createInterface } from 'node:readline';
import { AfPacketPort, FrameBatch } from '../src/agent-core/datapath/af-packet.js';
import {
  ETHERTYPE_IPV4, IPPROTO_UDP, encodeFrame, parseIp4, parseMac,
} from '../src/agent-core/packet/index.js';

/** 14 Ethernet + 20 IPv4 + 8 UDP + 22 payload = 64 bytes (a minimum frame with its FCS would be 64 too). */
const FRAME_BYTES = 64;
const PAYLOAD_BYTES = FRAME_BYTES - 14 - 20 - 8;
/** Frames in one sendmmsg at full rate. */
const BATCH = 256;
/** Where the UDP ports are in a frame: 14 Ethernet + 20 IPv4. */
const UDP_OFFSET = 34;
/** The established flow's ports; new flows walk through FLOW_PORTS² (source, destination) pairs. */
const ESTABLISHED_SRC_PORT = 40_000;
const ESTABLISHED_DST_PORT = 9;
const FLOW_PORT_BASE = 1024;
const FLOW_PORTS = 60_000;

export interface OpenCommand {
  op: 'open';
  id: string;
  netns: string;
  ifname: string;
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
}

export interface SendCommand {
  op: 'send';
  id: string;
  /** Frames a second; 0 sends back to back. */
  pps: number;
  ms: number;
  /** Every frame a new 5-tuple (a counter over source and destination ports that runs on across sends). */
  newFlows: boolean;
}

/** Counts since the start of a send at one moment (epoch ms with a fraction). */
export interface Mark {
  at: number;
  attempted: number;
  sent: number;
}

export interface SendReport {
  op: 'sent';
  id: string;
  sent: number;
  /** Frames refused by the kernel (not retried). */
  failed: number;
  seconds: number;
  /** Every ~20 ms, so that a caller can take the counts over its own window. */
  marks: Mark[];
}

interface Target {
  port: AfPacketPort;
  /** The established flow's frames, never changed. */
  batch: FrameBatch;
  /** The same frames, their ports rewritten for each send of new flows. */
  newFlowBatch: FrameBatch;
  nextFlow: number;
}

function buildBatch(c: OpenCommand): FrameBatch {
  const need = (v: number | undefined, what: string): number => {
    if (v === undefined) throw new Error(`bad ${what} in ${JSON.stringify(c)}`);
    return v;
  };
  const frame = encodeFrame({
    eth: { dst: need(parseMac(c.dstMac), 'dstMac'), src: need(parseMac(c.srcMac), 'srcMac'), etherType: ETHERTYPE_IPV4 },
    ip4: {
      tos: 0, id: 0, df: true, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_UDP,
      src: need(parseIp4(c.srcIp), 'srcIp'), dst: need(parseIp4(c.dstIp), 'dstIp'), options: new Uint8Array(0),
    },
    // Checksum 0: none (RFC 768), so that rewriting the ports per frame needs no checksum work.
    l4: { kind: 'udp', srcPort: ESTABLISHED_SRC_PORT, dstPort: ESTABLISHED_DST_PORT, payload: new Uint8Array(PAYLOAD_BYTES), checksum: 0 },
  });
  if (frame.length !== FRAME_BYTES) throw new Error(`frame is ${frame.length} bytes, not ${FRAME_BYTES}`);
  return FrameBatch.pack(Array.from({ length: BATCH }, () => frame));
}

/** Gives frames [0, n) of the batch the next n new 5-tuples. */
function stampNewFlows(t: Target, n: number): void {
  const { data, offsets } = t.newFlowBatch;
  for (let i = 0; i < n; i++) {
    const f = t.nextFlow++;
    const sport = FLOW_PORT_BASE + (f % FLOW_PORTS);
    const dport = FLOW_PORT_BASE + (Math.floor(f / FLOW_PORTS) % FLOW_PORTS);
    const at = offsets[i]! + UDP_OFFSET;
    data[at] = sport >> 8;
    data[at + 1] = sport & 0xff;
    data[at + 2] = dport >> 8;
    data[at + 3] = dport & 0xff;
  }
}

/** Wall-clock milliseconds comparable across processes (for the marks the bench interpolates). */
const epochMs = (): number => performance.timeOrigin + performance.now();
const MARK_EVERY_MS = 20;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sends for c.ms, paced by a token bucket checked between batches. A frame the kernel refuses
 * (its socket buffer is full because the gateway's core has not taken the earlier frames yet) is
 * counted as failed and not retried: the gateway did not keep up with the offered load.
 */
function send(t: Target, c: SendCommand): Omit<SendReport, 'op' | 'id'> {
  const start = performance.now();
  const end = start + c.ms;
  let attempted = 0;
  let sent = 0;
  const marks: Mark[] = [{ at: epochMs(), attempted: 0, sent: 0 }];
  let nextMark = start + MARK_EVERY_MS;
  const batch = c.newFlows ? t.newFlowBatch : t.batch;
  const { data, offsets, lengths } = batch;
  for (;;) {
    const now = performance.now();
    if (now >= nextMark) {
      marks.push({ at: epochMs(), attempted, sent });
      nextMark += MARK_EVERY_MS;
    }
    if (now >= end) break;
    let n = BATCH;
    if (c.pps > 0) {
      // Batches scale with the rate so that pacing stays within ~100 µs.
      const due = Math.floor(((now - start) / 1000) * c.pps) - attempted;
      if (due <= 0) {
        // Sleep (futex) rather than spin, so that the other work on this core (ZooKeeper, gateway B) runs.
        Atomics.wait(pause, 0, 0, 0.05);
        continue;
      }
      n = Math.min(BATCH, due, Math.max(1, Math.ceil(c.pps / 10_000)));
    }
    if (c.newFlows) stampNewFlows(t, n);
    sent += t.port.send(new FrameBatch(data, offsets, lengths, n));
    attempted += n;
  }
  marks.push({ at: epochMs(), attempted, sent });
  return { sent, failed: attempted - sent, seconds: (performance.now() - start) / 1000, marks };
}

function main(): void {
  const targets = new Map<string, Target>();
  const reply = (o: object): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    try {
      const c = JSON.parse(line) as OpenCommand | SendCommand;
      if (c.op === 'open') {
        // The port's receive ring stays unread: nothing the generator needs arrives there.
        const port = AfPacketPort.open(c.ifname, { netns: c.netns, blockCount: 2 });
        targets.set(c.id, { port, batch: buildBatch(c), newFlowBatch: buildBatch(c), nextFlow: 0 });
        reply({ op: 'opened', id: c.id });
      } else if (c.op === 'send') {
        const t = targets.get(c.id);
        if (t === undefined) throw new Error(`no target ${c.id}`);
        reply({ op: 'sent', id: c.id, ...send(t, c) } satisfies SendReport);
      } else {
        throw new Error(`unknown command ${line}`);
      }
    } catch (err) {
      reply({ op: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
  lines.on('close', () => {
    for (const t of targets.values()) t.port.close();
  });
  reply({ op: 'ready' });
}

main();
