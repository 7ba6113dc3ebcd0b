// Encapsulate-and-send rate of the tunnel ports over a veth pair between two namespaces, against
// references measured in the same run (STYLE: 12): the same datagrams through plain node:dgram
// sends paced the same way (what the port adds), and the kernel's own vxlan device encapsulating
// datagrams a node:dgram socket sends through it (the kernel doing the encapsulation).
// Each sender runs in its own process in namespace A, the kinds alternating over several rounds;
// medians are reported (these machines are shared: single runs vary by a factor of up to 2).
// Run as root: node --import tsx bench/tunnel-io.ts [seconds] [rounds]
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openGreTunnel } from '../src/agent-core/datapath/gre-tunnel.js';
import type { TunnelFrame, TunnelPort } from '../src/agent-core/datapath/tunnel-port.js';
import { openVxlanTunnel } from '../src/agent-core/datapath/vxlan-tunnel.js';
import { VXLAN_PORT_TOLLGATE } from '../src/agent-core/packet/constants.js';
import { encodeVxlan } from '../src/agent-core/packet/vxlan.js';
import { NetnsLab, run, waitFor } from '../test/helpers/netns.js';

const IP_A = '192.0.2.1';
const IP_B = '192.0.2.2';
const OVERLAY_A = '198.51.100.1';
const OVERLAY_B = '198.51.100.2';
const KEY = 0x123456;
/** Inner frames of 60 bytes (64 with the FCS): Ethernet + IPv4 + UDP + 18 bytes. */
const INNER_BYTES = 60;
const KERNEL_PAYLOAD = INNER_BYTES - 14 - 20 - 8;
const BATCH = 1024;
const CHUNK = 128;

type SenderKind = 'vxlan-port' | 'gre-port' | 'dgram-plain' | 'kernel-vxlan';

interface SenderResult {
  kind: SenderKind;
  sent: number;
  ms: number;
}

interface ReceiverReport {
  vxlan: number;
  gre: number;
}

function innerFrame(i: number): Uint8Array {
  const f = new Uint8Array(INNER_BYTES);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0x0a, 0x01], 6);
  new DataView(f.buffer).setUint16(12, 0x88b5);
  new DataView(f.buffer).setUint32(14, i);
  return f;
}

/** Sends `items` in chunks of CHUNK with a callback each and a turn between chunks: the port's pacing. */
async function pacedDgramSend(socket: dgram.Socket, items: readonly Uint8Array[], port: number, address: string): Promise<number> {
  let sent = 0;
  for (let at = 0; at < items.length; at += CHUNK) {
    await new Promise<void>((resolve) => {
      let pending = 0;
      for (let i = at; i < Math.min(items.length, at + CHUNK); i++) {
        pending++;
        socket.send(items[i]!, port, address, (err) => {
          if (err === null) sent++;
          if (--pending === 0) resolve();
        });
      }
    });
    await nextTurn();
  }
  return sent;
}

async function runSender(kind: SenderKind, seconds: number): Promise<SenderResult> {
  const frames: TunnelFrame[] = Array.from({ length: BATCH }, (_, i) => ({ innerFrame: innerFrame(i), tunnelKey: KEY, remoteIp: IP_B }));
  let sendBatch: () => Promise<number>;
  let close: () => Promise<void> | void;
  if (kind === 'vxlan-port' || kind === 'gre-port') {
    const port: TunnelPort =
      kind === 'vxlan-port'
        ? await openVxlanTunnel({ localAddress: IP_A, port: 0, remotePort: VXLAN_PORT_TOLLGATE, sendChunk: CHUNK })
        : await openGreTunnel({ localAddress: IP_A, sendChunk: CHUNK });
    sendBatch = () => port.send(frames);
    close = () => port.close();
  } else {
    const kernel = kind === 'kernel-vxlan';
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, kernel ? OVERLAY_A : IP_A, resolve));
    const items = kernel
      ? frames.map((_, i) => new Uint8Array(KERNEL_PAYLOAD).fill(i & 0xff))
      : frames.map((f) => encodeVxlan(KEY, f.innerFrame));
    sendBatch = () => pacedDgramSend(socket, items, kernel ? 9 : VXLAN_PORT_TOLLGATE, kernel ? OVERLAY_B : IP_B);
    close = () => {
      socket.close();
    };
  }
  await sendBatch(); // warm-up
  let sent = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) sent += await sendBatch();
  const ms = performance.now() - start;
  await close();
  return { kind, sent, ms };
}

async function runReceiver(): Promise<void> {
  const counts: ReceiverReport = { vxlan: 0, gre: 0 };
  const vxlan = await openVxlanTunnel({ localAddress: IP_B, recvBufferSize: 8 << 20 });
  const gre = await openGreTunnel({ localAddress: IP_B, recvBufferSize: 8 << 20 });
  vxlan.onFrames((b) => {
    counts.vxlan += b.length;
  });
  gre.onFrames((b) => {
    counts.gre += b.length;
  });
  createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify(counts)));
  process.stdin.on('end', () => process.exit(0));
  console.log(JSON.stringify({ ready: true }));
}

export interface TunnelIoResult {
  kind: SenderKind;
  /** Median over the rounds. */
  sentPerSec: number;
  /** Frames/s our receiving port delivered while this sender ran (the kernel device's datagrams included); median. */
  receivedPerSec: number;
  rounds: number;
}

const KINDS: readonly SenderKind[] = ['dgram-plain', 'vxlan-port', 'kernel-vxlan', 'gre-port'];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function benchTunnelIo(seconds = 2, rounds = 3): Promise<TunnelIoResult[]> {
  const lab = await NetnsLab.create();
  const self = fileURLToPath(import.meta.url);
  try {
    const nsA = await lab.addNamespace('a');
    const nsB = await lab.addNamespace('b');
    await lab.addVeth({ ns: nsA, ifname: 'a0', addrs: [`${IP_A}/24`] }, { ns: nsB, ifname: 'b0', addrs: [`${IP_B}/24`] });
    const macB = await lab.linkMac(nsB, 'b0');
    await lab.exec(nsA, 'ip', ['neigh', 'replace', IP_B, 'lladdr', macB, 'dev', 'a0', 'nud', 'permanent']);
    // The kernel reference: a vxlan device in A whose datagrams go to our receiving port in B.
    await lab.exec(nsA, 'ip', ['link', 'add', 'vx0', 'type', 'vxlan', 'id', String(KEY), 'dstport', String(VXLAN_PORT_TOLLGATE), 'local', IP_A, 'remote', IP_B, 'dev', 'a0']);
    await lab.addAddress(nsA, 'vx0', `${OVERLAY_A}/24`);
    await lab.setLink(nsA, 'vx0', true);
    await lab.exec(nsA, 'ip', ['neigh', 'replace', OVERLAY_B, 'lladdr', '02:00:00:00:0b:02', 'dev', 'vx0', 'nud', 'permanent']);

    const receiver = lab.spawn(nsB, process.execPath, ['--import', 'tsx', self, 'receiver']);
    await receiver.waitForLine((l) => l.includes('"ready"'), 20_000);
    const report = async (): Promise<ReceiverReport> => {
      const before = receiver.lines.length;
      receiver.proc.stdin!.write('report\n');
      await waitFor(() => receiver.lines.length > before, { timeoutMs: 5000, what: 'the receiver report' });
      return JSON.parse(receiver.lines[before]!) as ReceiverReport;
    };

    const samples = new Map<SenderKind, { sent: number[]; received: number[] }>(KINDS.map((k) => [k, { sent: [], received: [] }]));
    for (let round = 0; round < rounds; round++) for (const kind of KINDS) {
      const before = await report();
      const r = await run('ip', ['netns', 'exec', nsA, process.execPath, '--import', 'tsx', self, 'sender', kind, String(seconds)], {
        timeoutMs: (seconds + 30) * 1000,
      });
      const sender = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as SenderResult;
      await new Promise((res) => setTimeout(res, 300));
      const after = await report();
      const received = kind === 'gre-port' ? after.gre - before.gre : after.vxlan - before.vxlan;
      samples.get(kind)!.sent.push(sender.sent / (sender.ms / 1000));
      samples.get(kind)!.received.push(received / (sender.ms / 1000));
    }
    return KINDS.map((kind) => {
      const s = samples.get(kind)!;
      return { kind, sentPerSec: median(s.sent), receivedPerSec: median(s.received), rounds };
    });
  } finally {
    await lab.cleanup();
  }
}

async function main(): Promise<void> {
  const [role, a, b] = process.argv.slice(2);
  if (role === 'sender') {
    console.log(JSON.stringify(await runSender(a as SenderKind, Number(b))));
    process.exit(0);
  }
  if (role === 'receiver') return runReceiver();
  const seconds = Number(role ?? 2);
  const rounds = Number(a ?? 3);
  const results = await benchTunnelIo(seconds, rounds);
  const by = (k: SenderKind): TunnelIoResult => results.find((r) => r.kind === k)!;
  const fmt = (n: number): string => `${Math.round(n / 1000)}k`.padStart(6);
  console.log(`${INNER_BYTES}-byte inner frames, batches of ${BATCH}, chunks of ${CHUNK}, ${seconds} s a run, median of ${rounds} rounds, A -> B over a veth`);
  for (const r of results) console.log(`  ${r.kind.padEnd(13)} sent ${fmt(r.sentPerSec)} frames/s   our port in B received ${fmt(r.receivedPerSec)} frames/s`);
  console.log(`  VXLAN port / plain dgram sends of the same datagrams: ${(by('vxlan-port').sentPerSec / by('dgram-plain').sentPerSec).toFixed(2)}`);
  console.log(`  VXLAN port / kernel vxlan device fed by dgram:        ${(by('vxlan-port').sentPerSec / by('kernel-vxlan').sentPerSec).toFixed(2)}`);
  console.log(`  GRE port (raw-socket) / plain dgram sends:            ${(by('gre-port').sentPerSec / by('dgram-plain').sentPerSec).toFixed(2)}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
