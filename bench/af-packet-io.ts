// Frames per second through the AF_PACKET addon over a veth pair, against references measured in
// the same run: sendmmsg for sending, a plain poll + recvmmsg loop in C for receiving (STYLE: 12).
// Run as root: node --import tsx bench/af-packet-io.ts [seconds]
import { pathToFileURL } from 'node:url';
import { AfPacketPort, FrameBatch, loadAfPacketAddon } from '../src/agent-core/datapath/af-packet.js';
import { NetnsLab, run } from '../test/helpers/netns.js';

export interface AfPacketIoResult {
  name: string;
  frameBytes: number;
  /** TX ring: frames/s the addon sent, one thread, batches of 256. */
  sendRingPerSec: number;
  /** sendmmsg (the addon's default): frames/s, same frames, same batches. */
  sendMmsgPerSec: number;
  /** Frames/s the generator delivered to the receiving veth end while the ring port read them. */
  offeredPerSec: number;
  /** Receive ring, frames handed to a JS callback in batches, each frame read by JS. */
  recvRingPerSec: number;
  recvRingDropsPerSec: number;
  /** Same generator, a poll + recvmmsg(64) loop in C with no JS: the reference. */
  recvMmsgPerSec: number;
  recvMmsgDropsPerSec: number;
  /** Receiver CPU (user + system) per frame received, ring path and recvmmsg reference, in µs. */
  recvRingCpuUsPerFrame: number;
  recvMmsgCpuUsPerFrame: number;
  sendRatio: number;
  recvRatio: number;
  /** True when the ring port dropped nothing: the generator, not the receiver, set the rate. */
  generatorLimited: boolean;
  generator: string;
}

const FRAME_BYTES = Number(process.env.AF_PACKET_BENCH_FRAME_BYTES ?? 64);
const BATCH = 256;
const ETHERTYPE_LOCAL_EXPERIMENTAL_1 = 0x88b5;

function frames(dst: number, src: number): FrameBatch {
  return FrameBatch.pack(
    Array.from({ length: BATCH }, (_, i) => {
      const f = new Uint8Array(FRAME_BYTES);
      const v = new DataView(f.buffer);
      v.setUint16(0, Math.floor(dst / 2 ** 32));
      v.setUint32(2, dst % 2 ** 32);
      v.setUint16(6, Math.floor(src / 2 ** 32));
      v.setUint32(8, src % 2 ** 32);
      v.setUint16(12, ETHERTYPE_LOCAL_EXPERIMENTAL_1);
      v.setUint32(14, i);
      return f;
    }),
  );
}

function measureSend(port: AfPacketPort, batch: FrameBatch, seconds: number): number {
  const before = port.stats().sent;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) port.send(batch);
  }
  return (port.stats().sent - before) / ((performance.now() - start) / 1000);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The generator: the addon's sendmmsg path in its own process on CPU 1, as fast as it can. On a
// veth the receiving end's kernel work (the copy into the ring or socket queue) runs here too.
function generatorSource(addonPath: string): string {
  return `import { createRequire } from 'node:module';
    const { AfPacketSocket } = createRequire(import.meta.url)(${JSON.stringify(addonPath)});
    const [ns, ifname, dst, seconds] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
    const s = new AfPacketSocket(ifname, { netns: ns, txRing: false });
    const n = ${BATCH}, len = ${FRAME_BYTES};
    const data = new Uint8Array(n * len), offsets = new Uint32Array(n), lengths = new Uint32Array(n);
    const src = s.info().mac;
    for (let i = 0; i < n; i++) {
      const v = new DataView(data.buffer, i * len, len);
      v.setUint16(0, Math.floor(dst / 2 ** 32)); v.setUint32(2, dst % 2 ** 32);
      v.setUint16(6, Math.floor(src / 2 ** 32)); v.setUint32(8, src % 2 ** 32);
      v.setUint16(12, ${ETHERTYPE_LOCAL_EXPERIMENTAL_1}); v.setUint32(14, i);
      offsets[i] = i * len; lengths[i] = len;
    }
    console.log(JSON.stringify({ ready: true }));
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) for (let k = 0; k < 16; k++) s.send(data, offsets, lengths, n);
    console.log(JSON.stringify(s.stats()));
    s.close();`;
}

export async function runAfPacketIoBench(opts: { seconds?: number } = {}): Promise<AfPacketIoResult> {
  const seconds = opts.seconds ?? 3;
  const addonPath = new URL('../build/Release/tollgate_af_packet.node', import.meta.url).pathname;
  loadAfPacketAddon();
  await run('taskset', ['-pc', '0', String(process.pid)]);
  const lab = await NetnsLab.create();
  try {
    const nsG = await lab.addNamespace('gen');
    const nsD = await lab.addNamespace('dut');
    await lab.addVeth({ ns: nsG, ifname: 'g0' }, { ns: nsD, ifname: 'd0' });

    // Sending: the peer has no listener, so the kernel drops each frame right after delivery.
    const sendPerSec = (txRing: boolean): number => {
      const port = AfPacketPort.open('g0', { netns: nsG, txRing, txFrameCount: 4096 });
      try {
        const dMac = port.info.mac ^ 1;
        const batch = frames(dMac, port.info.mac);
        measureSend(port, batch, 0.3); // warm-up
        return measureSend(port, batch, seconds);
      } finally {
        port.close();
      }
    };
    const sendRingPerSec = sendPerSec(true);
    const sendMmsgPerSec = sendPerSec(false);

    const startGenerator = async (dMac: number) => {
      const gen = lab.spawn(undefined, 'taskset', [
        '-c', '1', process.execPath, '--input-type=module', '-e', generatorSource(addonPath), '--',
        nsG, 'g0', String(dMac), String(seconds + 1),
      ]);
      await gen.waitForLine((l) => l.includes('ready'));
      await sleep(300);
      return gen;
    };

    // Receiving through the ring, frames handed to JS in batches; JS reads two bytes of each.
    const rx = AfPacketPort.open('d0', { netns: nsD });
    let touched = 0;
    rx.onFrames((b) => {
      const { data, offsets } = b;
      for (let i = 0; i < b.count; i++) touched += data[offsets[i]! + 13]!;
    });
    const gen1 = await startGenerator(rx.info.mac);
    const link0 = await lab.linkStats(nsD, 'd0');
    const s0 = rx.stats();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await sleep(seconds * 1000);
    const cpu1 = process.cpuUsage(cpu0);
    const s1 = rx.stats();
    const link1 = await lab.linkStats(nsD, 'd0');
    const elapsed = (performance.now() - t0) / 1000;
    await gen1.waitForExit(10_000);
    rx.close();
    if (touched === 0 && s1.received > s0.received) throw new Error('frames were not read');

    // The reference: same generator, a C loop of poll + recvmmsg on a socket without a ring.
    const dMac = Number('0x' + (await lab.linkMac(nsD, 'd0')).replaceAll(':', ''));
    const gen2 = await startGenerator(dMac);
    const cpu2 = process.cpuUsage();
    const ref = loadAfPacketAddon().benchRecvmmsg('d0', nsD, seconds * 1000, 64);
    const cpu3 = process.cpuUsage(cpu2);
    await gen2.waitForExit(10_000);

    const recvRingPerSec = (s1.received - s0.received) / elapsed;
    const recvMmsgPerSec = ref.packets / ref.seconds;
    return {
      name: `af-packet-io ${FRAME_BYTES}-byte frames over veth (addon vs sendmmsg / recvmmsg loop)`,
      frameBytes: FRAME_BYTES,
      sendRingPerSec: Math.round(sendRingPerSec),
      sendMmsgPerSec: Math.round(sendMmsgPerSec),
      offeredPerSec: Math.round((link1.rxPackets - link0.rxPackets) / elapsed),
      recvRingPerSec: Math.round(recvRingPerSec),
      recvRingDropsPerSec: Math.round((s1.kernelDrops - s0.kernelDrops) / elapsed),
      recvMmsgPerSec: Math.round(recvMmsgPerSec),
      recvMmsgDropsPerSec: Math.round(ref.kernelDrops / ref.seconds),
      recvRingCpuUsPerFrame: Math.round(((cpu1.user + cpu1.system) / (s1.received - s0.received)) * 1000) / 1000,
      recvMmsgCpuUsPerFrame: Math.round(((cpu3.user + cpu3.system) / ref.packets) * 1000) / 1000,
      sendRatio: Math.round((sendRingPerSec / sendMmsgPerSec) * 100) / 100,
      recvRatio: Math.round((recvRingPerSec / recvMmsgPerSec) * 100) / 100,
      generatorLimited: s1.kernelDrops === s0.kernelDrops,
      generator: 'addon sendmmsg in a child process pinned to CPU 1; receiver pinned to CPU 0',
    };
  } finally {
    await lab.cleanup();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.argv[2] ?? 3);
  runAfPacketIoBench({ seconds }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
