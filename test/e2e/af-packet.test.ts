// AfPacketPort with real frames between two network namespaces joined by a veth pair: kernel-built
// frames in, addon-built frames out to the kernel, VLAN tags, a 100k burst, errors and clean closing.
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { AfPacketError, AfPacketPort, FrameBatch, FrameFlag } from '../../src/agent-core/datapath/af-packet.js';
import { ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_UDP } from '../../src/agent-core/packet/flow-match.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../helpers/netns.js';

const ETHERTYPE_LOCAL_EXPERIMENTAL_1 = 0x88b5; // IEEE 802 local experimental: nothing else sends it
const IP_A = '192.0.2.1';
const IP_B = '192.0.2.2';
const UDP_PORT_B = 5000;

const why = netnsUnavailableReason();
if (why !== undefined) console.warn(`af-packet e2e skipped: ${why}`);
const describeNetns = why === undefined ? describe : describe.skip;

// The payload of datagram i: its index, then bytes that depend on index and position, so a
// shifted, truncated or mixed-up frame cannot pass. Also shipped to child processes as source.
function payloadFor(i: number): Uint8Array {
  const len = 16 + ((i * 37) % 1400);
  const p = new Uint8Array(len);
  new DataView(p.buffer).setUint32(0, i);
  for (let k = 4; k < len; k++) p[k] = (i * 7 + k) & 0xff;
  return p;
}

function ipv4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function macBytes(mac: number): number[] {
  return [40, 32, 24, 16, 8, 0].map((s) => Math.floor(mac / 2 ** s) & 0xff);
}

function onesComplement(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) sum += (bytes[i]! << 8) | (i + 1 < end ? bytes[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function udpFrame(dstMac: number, srcMac: number, src: string, dst: string, sport: number, dport: number, id: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  const v = new DataView(f.buffer);
  f.set(macBytes(dstMac), 0);
  f.set(macBytes(srcMac), 6);
  v.setUint16(12, ETHERTYPE_IPV4);
  v.setUint8(14, 0x45);
  v.setUint16(16, 20 + 8 + payload.length);
  v.setUint16(18, id & 0xffff);
  v.setUint8(22, 64);
  v.setUint8(23, IPPROTO_UDP);
  f.set(ipv4Bytes(src), 26);
  f.set(ipv4Bytes(dst), 30);
  v.setUint16(24, ~onesComplement(f, 14, 34) & 0xffff);
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  v.setUint16(38, 8 + payload.length);
  f.set(payload, 42);
  const pseudo = onesComplement(f, 26, 34, IPPROTO_UDP + 8 + payload.length);
  v.setUint16(40, ~onesComplement(f, 34, f.length, pseudo) & 0xffff || 0xffff);
  return f;
}

function rawFrame(dstMac: number, srcMac: number, seq: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(macBytes(dstMac), 0);
  f.set(macBytes(srcMac), 6);
  new DataView(f.buffer).setUint16(12, ETHERTYPE_LOCAL_EXPERIMENTAL_1);
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

function isTestFrame(f: Uint8Array): boolean {
  return f.length >= 18 && ((f[12]! << 8) | f[13]!) === ETHERTYPE_LOCAL_EXPERIMENTAL_1;
}

function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function ringMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('socket:[')).length;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describeNetns('AfPacketPort over a veth pair between two namespaces', () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  const ports: AfPacketPort[] = [];
  const open = (ifname: string, ns: string, opts: Parameters<typeof AfPacketPort.open>[1] = {}): AfPacketPort => {
    const p = AfPacketPort.open(ifname, { ...opts, netns: ns });
    ports.push(p);
    return p;
  };

  beforeAll(async () => {
    lab = await NetnsLab.create();
    nsA = await lab.addNamespace('a');
    nsB = await lab.addNamespace('b');
    await lab.addVeth({ ns: nsA, ifname: 'a0', addrs: [`${IP_A}/24`] }, { ns: nsB, ifname: 'b0', addrs: [`${IP_B}/24`] });
    // Static neighbours: the kernel would otherwise queue only a few datagrams while ARP resolves.
    const macB = await lab.linkMac(nsB, 'b0');
    const macA = await lab.linkMac(nsA, 'a0');
    await lab.exec(nsA, 'ip', ['neigh', 'replace', IP_B, 'lladdr', macB, 'dev', 'a0', 'nud', 'permanent']);
    await lab.exec(nsB, 'ip', ['neigh', 'replace', IP_A, 'lladdr', macA, 'dev', 'b0', 'nud', 'permanent']);
  });

  afterEach(() => {
    for (const p of ports.splice(0)) p.close();
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  test('opens the interface inside its namespace and reports its identity', async () => {
    const port = open('b0', nsB);
    const mac = (await lab.linkMac(nsB, 'b0')).split(':').reduce((acc, h) => acc * 256 + parseInt(h, 16), 0);
    expect(port.info.mac).toBe(mac);
    expect(port.info.mtu).toBe(1500);
    expect(port.info.ifname).toBe('b0');
  });

  test('open failures are AfPacketErrors with the errno and its text', () => {
    const noDevice = (() => {
      try {
        AfPacketPort.open('nope0', { netns: nsB });
      } catch (e) {
        return e;
      }
    })();
    expect(noDevice).toBeInstanceOf(AfPacketError);
    expect(noDevice).toMatchObject({ code: 'ENODEV', errno: 19, ifname: 'nope0' });
    expect((noDevice as Error).message).toMatch(/No such device/);
    expect(() => AfPacketPort.open('b0', { netns: `${lab.prefix}-missing` })).toThrow(
      expect.objectContaining({ name: 'AfPacketError', code: 'ENOENT' }),
    );
    expect(() => AfPacketPort.open('b0', { netns: nsB, blockSize: 5000 })).toThrow(AfPacketError);
  });

  test('datagrams built by the kernel in one namespace arrive intact, in batches, in the other', async () => {
    const port = open('b0', nsB, { maxBatch: 64 });
    const udp = new Map<number, Uint8Array>();
    const udpFlags = new Map<number, number>();
    const batchSizes: number[] = [];
    port.onFrames((batch) => {
      batchSizes.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const f = batch.frame(i);
        if (((f[12]! << 8) | f[13]!) === ETHERTYPE_IPV4 && f[23] === IPPROTO_UDP) {
          expect(batch.flagsOf(i) & FrameFlag.TRUNCATED).toBe(0);
          const seq = new DataView(f.buffer, f.byteOffset + 42).getUint32(0);
          udp.set(seq, f.slice());
          udpFlags.set(seq, batch.flagsOf(i));
        }
      }
    });
    const n = 500;
    const sender = lab.spawnNode(
      nsA,
      `import dgram from 'node:dgram';
       const payloadFor = ${payloadFor.toString()};
       const [dst, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
       const s = dgram.createSocket('udp4');
       s.bind(0, '${IP_A}', async () => {
         for (let i = 0; i < n; i++) await new Promise((ok, fail) => s.send(payloadFor(i), port, dst, (e) => (e ? fail(e) : ok())));
         s.close();
         console.log(JSON.stringify({ sent: n }));
       });`,
      [IP_B, String(UDP_PORT_B), String(n)],
    );
    expect(await sender.waitForExit(10_000)).toBe(0);
    // Every datagram arrives, or (on a loaded machine) is counted as dropped by the full ring: none vanishes.
    const accounted = (): number => udp.size + port.stats().kernelDrops;
    await waitFor(() => accounted() >= n, { timeoutMs: 5000, what: `${n} datagrams (have ${udp.size}, kernel drops ${port.stats().kernelDrops})` });
    expect(udp.size).toBeGreaterThan(n / 2);

    for (let i = 0; i < n; i++) {
      const f = udp.get(i);
      if (f === undefined) continue;
      const v = new DataView(f.buffer);
      const payload = payloadFor(i);
      expect(Array.from(f.subarray(0, 6))).toEqual(macBytes(port.info.mac));
      expect(f.length).toBe(42 + payload.length);
      expect(v.getUint16(16)).toBe(28 + payload.length);
      expect(onesComplement(f, 14, 34)).toBe(0xffff); // the IPv4 header checksum holds
      expect(Array.from(f.subarray(30, 34))).toEqual(ipv4Bytes(IP_B));
      expect(v.getUint16(36)).toBe(UDP_PORT_B);
      expect(Buffer.from(f.subarray(42)).equals(Buffer.from(payload))).toBe(true);
      // A datagram sent by a local stack onto a veth still carries only the pseudo-header sum
      // (checksum offload): the flag must say so. Otherwise the full checksum must hold.
      const pseudo = onesComplement(f, 26, 34, IPPROTO_UDP + f.length - 34);
      if ((udpFlags.get(i)! & FrameFlag.CSUM_NOT_READY) !== 0) expect(v.getUint16(40)).toBe(pseudo);
      else expect(onesComplement(f, 34, f.length, pseudo)).toBe(0xffff);
    }
    console.log(`kernel-built datagrams: ${[...udpFlags.values()].filter((fl) => fl & FrameFlag.CSUM_NOT_READY).length} of ${n} flagged CSUM_NOT_READY`);
    expect(batchSizes.every((c) => c >= 1 && c <= 64)).toBe(true);
    expect(batchSizes.length).toBeGreaterThanOrEqual(Math.ceil(udp.size / 64));
    expect(batchSizes.reduce((a, b) => a + b, 0)).toBe(port.stats().received);
  });

  describe.each([
    { txRing: true, how: 'the TX ring, given a FrameBatch' },
    { txRing: false, how: 'sendmmsg, given an array of frames' },
  ])('sending through $how', ({ txRing }) => {
    test('frames built in JS reach a UDP socket behind the kernel on the other side', async () => {
      const port = open('a0', nsA, { txRing });
      const macB = (await lab.linkMac(nsB, 'b0')).split(':').reduce((acc, h) => acc * 256 + parseInt(h, 16), 0);
      const receiver = lab.spawnNode(
        nsB,
        `import dgram from 'node:dgram';
         const s = dgram.createSocket('udp4');
         s.on('message', (m) => console.log(JSON.stringify({ hex: m.toString('hex') })));
         s.on('error', (e) => { console.error(e.message); process.exit(1); });
         s.bind(${UDP_PORT_B}, '${IP_B}', () => console.log(JSON.stringify({ ready: true })));`,
      );
      const n = 300;
      try {
        await receiver.waitForLine((l) => l.includes('ready'));
        const chunk = 30; // the receiver's socket buffer holds a few dozen of these at a time
        for (let at = 0; at < n; at += chunk) {
          const frames: Uint8Array[] = [];
          for (let i = at; i < at + chunk; i++) frames.push(udpFrame(macB, port.info.mac, IP_A, IP_B, 40000, UDP_PORT_B, i, payloadFor(i)));
          expect(port.send(txRing ? FrameBatch.pack(frames) : frames)).toBe(chunk);
          await waitFor(() => receiver.lines.length >= 1 + at + chunk, { timeoutMs: 5000, what: `datagrams up to ${at + chunk}` });
        }
      } finally {
        await receiver.stop();
      }
      const got = receiver.json<{ hex?: string }>().flatMap((m) => (m.hex === undefined ? [] : [Buffer.from(m.hex, 'hex')]));
      expect(got).toHaveLength(n);
      got.forEach((d, i) => expect(d.equals(Buffer.from(payloadFor(i)))).toBe(true));
      expect(port.stats()).toMatchObject({ sent: n, sendFailed: 0 });
    });

    test('frames too short or too long are counted, not sent, and the rest still go', async () => {
      const port = open('a0', nsA, { txRing });
      const rx = open('b0', nsB);
      let seen = 0;
      rx.onFrames((b) => {
        for (const f of b) if (isTestFrame(f)) seen++;
      });
      const sent = port.send([new Uint8Array(10), rawFrame(0xffffffffffff, port.info.mac, 1), new Uint8Array(9000)]);
      expect(sent).toBe(1);
      expect(port.stats().sendFailed).toBe(2);
      await waitFor(() => seen === 1, { what: 'the one valid frame' });
    });
  });

  test('802.1Q and 802.1ad tags the kernel strips are restored in the frame', async () => {
    const tx = open('a0', nsA);
    const rx = open('b0', nsB);
    const got: { frame: Uint8Array; flags: number }[] = [];
    rx.onFrames((b) => {
      for (let i = 0; i < b.count; i++) got.push({ frame: b.frame(i).slice(), flags: b.flagsOf(i) });
    });
    const tagged = (outer: number[], ...inner: number[][]): Uint8Array => {
      const f = new Uint8Array(64);
      f.set(macBytes(rx.info.mac), 0);
      f.set(macBytes(tx.info.mac), 6);
      f.set([...outer, ...inner.flat(), ETHERTYPE_LOCAL_EXPERIMENTAL_1 >> 8, ETHERTYPE_LOCAL_EXPERIMENTAL_1 & 0xff, 1, 2, 3, 4], 12);
      return f;
    };
    const dot1q = tagged([ETHERTYPE_VLAN >> 8, ETHERTYPE_VLAN & 0xff, 0x20, 0x64]); // PCP 1, VID 100
    const qinq = tagged([ETHERTYPE_QINQ >> 8, ETHERTYPE_QINQ & 0xff, 0x00, 0xc8], [ETHERTYPE_VLAN >> 8, ETHERTYPE_VLAN & 0xff, 0x00, 0x0a]);
    const untagged = tagged([]);
    expect(tx.send([dot1q, qinq, untagged])).toBe(3);
    await waitFor(() => got.length === 3, { what: 'three frames' });
    expect(Buffer.from(got[0]!.frame).equals(Buffer.from(dot1q))).toBe(true);
    expect(Buffer.from(got[1]!.frame).equals(Buffer.from(qinq))).toBe(true);
    expect(Buffer.from(got[2]!.frame).equals(Buffer.from(untagged))).toBe(true);
    expect(got.map((g) => g.flags & FrameFlag.VLAN_RESTORED)).toEqual([FrameFlag.VLAN_RESTORED, FrameFlag.VLAN_RESTORED, 0]);
  });

  describe.each([
    { name: 'a sender that yields to the event loop, default ring', yieldEvery: 256, rx: {} },
    { name: 'a sender that never yields, a tiny ring', yieldEvery: 0, rx: { blockSize: 1 << 16, blockCount: 2 } },
  ])('a burst of 100k frames from $name', ({ yieldEvery, rx: rxOpts }) => {
    test('frames received plus frames dropped add up to frames sent, in order, none twice', async () => {
      const total = 100_000;
      const tx = open('a0', nsA);
      const rx = open('b0', nsB, rxOpts);
      const seen = new Uint8Array(total);
      let received = 0;
      let lastSeq = -1;
      let outOfOrder = 0;
      let duplicates = 0;
      rx.onFrames((b) => {
        for (let i = 0; i < b.count; i++) {
          const f = b.frame(i);
          if (!isTestFrame(f)) continue;
          const seq = seqOf(f);
          if (seen[seq] === 1) duplicates++;
          seen[seq] = 1;
          if (seq <= lastSeq) outOfOrder++;
          lastSeq = seq;
          received++;
        }
      });
      const before = await lab.linkStats(nsA, 'a0');
      const chunk = 256;
      const frames = Array.from({ length: chunk }, (_, i) => rawFrame(rx.info.mac, tx.info.mac, i));
      const start = performance.now();
      for (let at = 0; at < total; at += chunk) {
        const n = Math.min(chunk, total - at);
        for (let i = 0; i < n; i++) new DataView(frames[i]!.buffer).setUint32(14, at + i);
        tx.send(n === chunk ? frames : frames.slice(0, n));
        if (yieldEvery > 0) await tick();
      }
      const sendSeconds = (performance.now() - start) / 1000;
      const sent = tx.stats();
      expect(sent.sent + sent.sendFailed).toBe(total);
      const vethDropped = (await lab.linkStats(nsA, 'a0')).txDropped - before.txDropped;
      // Settle: the ring is drained and the kernel has accounted for every frame offered.
      await waitFor(
        () => {
          const s = rx.stats();
          return s.kernelPackets - s.kernelDrops === s.received && received + s.kernelDrops + vethDropped === sent.sent;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: 'received + dropped to reach sent' },
      );
      const s = rx.stats();
      expect(received + s.kernelDrops + vethDropped).toBe(sent.sent);
      expect(duplicates).toBe(0);
      expect(outOfOrder).toBe(0);
      expect(received).toBeGreaterThan(0);
      if (yieldEvery === 0) expect(s.kernelDrops).toBeGreaterThan(0); // the tiny ring overflowed: drops are real
      console.log(
        `burst (${yieldEvery > 0 ? 'yielding' : 'non-yielding'}): sent ${sent.sent} (failed ${sent.sendFailed}) in ${sendSeconds.toFixed(2)} s, ` +
          `received ${received} in ${s.batches} batches, ring drops ${s.kernelDrops}, veth drops ${vethDropped}`,
      );
    });
  });

  describe('closing', () => {
    test('close() inside the frames callback stops delivery there, and later calls fail cleanly', async () => {
      const tx = open('a0', nsA);
      const rx = open('b0', nsB, { maxBatch: 8 });
      let calls = 0;
      let firstCount = 0;
      rx.onFrames((b) => {
        calls++;
        firstCount = b.count;
        rx.close();
      });
      tx.send(Array.from({ length: 100 }, (_, i) => rawFrame(rx.info.mac, tx.info.mac, i)));
      await waitFor(() => calls > 0, { what: 'the first batch' });
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(1);
      expect(rx.closed).toBe(true);
      expect(firstCount).toBeGreaterThan(0);
      expect(firstCount).toBeLessThanOrEqual(8);
      expect(rx.stats().received).toBe(firstCount);
      expect(() => rx.send([rawFrame(0, 0, 0)])).toThrow(expect.objectContaining({ name: 'AfPacketError', code: 'EBADF' }));
      rx.close(); // idempotent
    });

    test('close() while a readiness event is pending never runs the callback', async () => {
      const tx = open('a0', nsA);
      const rx = open('b0', nsB);
      let calls = 0;
      rx.onFrames(() => calls++);
      tx.send(Array.from({ length: 50 }, (_, i) => rawFrame(rx.info.mac, tx.info.mac, i)));
      // Block the loop while the ring block retires (1 ms timeout), so the readiness is pending
      // in epoll when close() runs, before the loop could dispatch it.
      const until = Date.now() + 20;
      while (Date.now() < until) {
        // busy wait, bounded
      }
      rx.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(0);
    });

    test('opening and closing many ports leaves no file descriptors or ring mappings behind', () => {
      const fds = openFds();
      const maps = ringMappings();
      for (let i = 0; i < 50; i++) {
        const p = AfPacketPort.open('b0', { netns: nsB, txRing: i % 2 === 0 });
        p.onFrames(() => undefined);
        p.close();
      }
      expect(openFds()).toBe(fds);
      expect(ringMappings()).toBe(maps);
    });

    test('a worker thread can own a port; terminating it releases the socket', async () => {
      const tx = open('a0', nsA);
      const fds = openFds();
      const maps = ringMappings();
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { AfPacketSocket } = require(workerData.addon);
         const s = new AfPacketSocket('b0', { netns: workerData.ns });
         let n = 0;
         s.start((count) => { n += count; parentPort.postMessage({ n }); }, () => {});
         parentPort.postMessage({ ready: true, mac: s.info().mac });`,
        { eval: true, workerData: { addon: new URL('../../build/Release/tollgate_af_packet.node', import.meta.url).pathname, ns: nsB } },
      );
      let mac = 0;
      let count = 0;
      worker.on('message', (m: { ready?: boolean; mac?: number; n?: number }) => {
        if (m.mac !== undefined) mac = m.mac;
        if (m.n !== undefined) count = m.n;
      });
      try {
        await waitFor(() => mac !== 0, { what: 'the worker to open its port' });
        expect(ringMappings()).toBe(maps + 1);
        tx.send(Array.from({ length: 20 }, (_, i) => rawFrame(mac, tx.info.mac, i)));
        await waitFor(() => count === 20, { what: 'the worker to receive 20 frames' });
      } finally {
        await worker.terminate(); // the port is still open: the addon's env cleanup hook closes it
      }
      expect(ringMappings()).toBe(maps);
      expect(openFds()).toBe(fds);
    });
  });

  test('a frame longer than a ring block arrives cut short and flagged', async () => {
    await lab.exec(nsA, 'ip', ['link', 'set', 'a0', 'mtu', '9000']);
    await lab.exec(nsB, 'ip', ['link', 'set', 'b0', 'mtu', '9000']);
    try {
      const tx = open('a0', nsA);
      const rx = open('b0', nsB, { blockSize: 4096, blockCount: 4 });
      const got: { length: number; flags: number; head: Uint8Array }[] = [];
      rx.onFrames((b) => {
        for (let i = 0; i < b.count; i++) got.push({ length: b.frame(i).length, flags: b.flagsOf(i), head: b.frame(i).slice(0, 18) });
      });
      const big = rawFrame(rx.info.mac, tx.info.mac, 7, 8000);
      expect(tx.send([big])).toBe(1);
      await waitFor(() => got.length === 1, { what: 'the long frame' });
      expect(got[0]!.length).toBeLessThan(4096);
      expect(got[0]!.flags & FrameFlag.TRUNCATED).toBe(FrameFlag.TRUNCATED);
      expect(Buffer.from(got[0]!.head).equals(Buffer.from(big.subarray(0, 18)))).toBe(true);
      expect(rx.stats().truncated).toBe(1);
    } finally {
      await lab.exec(nsA, 'ip', ['link', 'set', 'a0', 'mtu', '1500']);
      await lab.exec(nsB, 'ip', ['link', 'set', 'b0', 'mtu', '1500']);
    }
  });

  test('a batch buffer transferred away stops delivery with an error instead of writing into it', async () => {
    const tx = open('a0', nsA);
    const rx = open('b0', nsB, { maxBatch: 4 });
    const errors: AfPacketError[] = [];
    let calls = 0;
    rx.onError((e) => errors.push(e));
    rx.onFrames((b) => {
      calls++;
      structuredClone(b.data.buffer, { transfer: [b.data.buffer as ArrayBuffer] });
    });
    tx.send(Array.from({ length: 20 }, (_, i) => rawFrame(rx.info.mac, tx.info.mac, i)));
    await waitFor(() => errors.length > 0, { what: 'ERR_BUFFER_DETACHED' });
    expect(errors[0]!.code).toBe('ERR_BUFFER_DETACHED');
    expect(calls).toBe(1);
  });

  test('a link going down is reported through onError, and frames flow again once it is back', async () => {
    const tx = open('a0', nsA);
    const rx = open('b0', nsB);
    const errors: AfPacketError[] = [];
    let seen = 0;
    rx.onError((e) => errors.push(e));
    rx.onFrames((b) => {
      for (const f of b) if (isTestFrame(f)) seen++;
    });
    await lab.setLink(nsB, 'b0', false);
    await waitFor(() => errors.length > 0, { what: 'ENETDOWN' });
    expect(errors[0]).toMatchObject({ code: 'ENETDOWN', ifname: 'b0' });
    await lab.setLink(nsB, 'b0', true);
    await waitFor(
      async () => {
        tx.send([rawFrame(rx.info.mac, tx.info.mac, 1)]);
        await new Promise((r) => setTimeout(r, 20));
        return seen > 0;
      },
      { timeoutMs: 5000, what: 'frames after link up' },
    );
    expect(rx.stats().errors).toBeGreaterThanOrEqual(1);
  });
});
