// Tunnel ports with real packets (DESIGN: Tunnels): VXLAN and GRE endpoints in two namespaces over
// a veth pair, the kernel's own vxlan device against our VXLAN endpoint, malformed input, a burst.
//
// The endpoints run in child Node processes inside the namespaces (`ip netns exec <ns> node
// --import tsx`): a socket belongs to the namespace of the process that opens it. endpointMain
// below is shipped to them as source; it opens ports and sends on request, one JSON line each way
// on stdin/stdout (requests carry an id, the answer repeats it). Every wait is bounded; afterAll
// kills the children by PID and deletes the namespaces by name, also after a failure.
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  ARP_OP_REPLY,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IPPROTO_ICMP,
  TUNNEL_KEY_FLOW_STATE,
  TUNNEL_KEY_TRACE_BIT,
  VXLAN_PORT_TOLLGATE,
  buildArpRequest,
  decodeFrame,
  echoRest,
  encodeFrame,
  formatMac,
  isDecodeError,
  parseIp4,
  parseMac,
} from '../../src/agent-core/packet/index.js';
import fc from 'fast-check';
import type { GreTunnelOptions } from '../../src/agent-core/datapath/gre-tunnel.js';
import {
  type GreDecoded,
  decodeGre,
  encodeGre,
  isGreDecodeError,
  stripIp4Header,
} from '../../src/agent-core/datapath/tunnel-gre-codec.js';
import { canonicalTunnelIp, type TunnelFrame, type TunnelPort, type TunnelStats } from '../../src/agent-core/datapath/tunnel-port.js';
import { TunnelSendQueue } from '../../src/agent-core/datapath/tunnel-send-queue.js';
import type { VxlanTunnelOptions } from '../../src/agent-core/datapath/vxlan-tunnel.js';
import { type ChildHandle, NetnsLab, netnsUnavailableReason, waitFor } from '../helpers/netns.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

// Underlay: A–B on 192.0.2.0/26, A–K on 192.0.2.64/26; overlay inside the kernel's vxlan: 198.51.100.0/24.
const IP_A = '192.0.2.1';
const IP_A_OTHER = '192.0.2.3';
const IP_B = '192.0.2.2';
const IP_A_K = '192.0.2.65';
const IP_K = '192.0.2.66';
const IP6_A = '2001:db8:7::1';
const IP6_B = '2001:db8:7::2';
const KERNEL_VNI = 42;
const OVERLAY_OURS = '198.51.100.1';
const OVERLAY_KERNEL = '198.51.100.2';
const MAC_OURS = '02:00:00:00:0a:01';
const MAC_KERNEL = '02:00:00:00:0b:02';
const ETHERTYPE_LOCAL_EXPERIMENTAL_1 = 0x88b5;

const why = netnsUnavailableReason();
if (why !== undefined) console.warn(`tunnels e2e skipped: ${why}`);
const describeNetns = why === undefined ? describe : describe.skip;

interface WireFrame {
  hex: string;
  key: number;
  remote: string;
}

interface RxReport {
  count: number;
  frames: WireFrame[];
  stats: TunnelStats;
  /** Burst ports: frames whose bytes or key differ from the burst frame of their number, and repeats. */
  bad: number;
  duplicates: number;
  /** Burst ports: ms from the first frame received to the last. */
  spanMs: number;
}

interface BurstReport {
  accepted: number;
  ms: number;
  maxLagMs: number;
  /** Times a 1 ms interval timer ran while the burst was being sent. */
  ticks: number;
}

// ---------------------------------------------------------------------------------------------
// The child side. Runs as `(${endpointMain})(repo)` under tsx: only dynamic imports inside.
// ---------------------------------------------------------------------------------------------
async function endpointMain(repo: string): Promise<void> {
  type VxlanMod = typeof import('../../src/agent-core/datapath/vxlan-tunnel.js');
  type GreMod = typeof import('../../src/agent-core/datapath/gre-tunnel.js');
  const { openVxlanTunnel } = (await import(`${repo}/src/agent-core/datapath/vxlan-tunnel.ts`)) as VxlanMod;
  const { openGreTunnel } = (await import(`${repo}/src/agent-core/datapath/gre-tunnel.ts`)) as GreMod;
  const dgram = (await import('node:dgram')).default;
  const { createRequire } = await import('node:module');
  const readline = await import('node:readline');
  interface Rx {
    port: TunnelPort;
    keep: boolean;
    count: number;
    frames: WireFrame[];
    seen: Uint8Array;
    bad: number;
    duplicates: number;
    first: number;
    last: number;
  }
  const ports = new Map<number, Rx>();
  let nextPort = 1;
  const rawPackets: string[] = [];
  const unreferenced = { count: 0 };
  const out = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
  const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  const burstFrame = (i: number, size: number): Uint8Array => {
    const f = new Uint8Array(size);
    f.fill(0xff, 0, 6); // broadcast destination; source and payload vary with i
    new DataView(f.buffer).setUint32(8, i);
    new DataView(f.buffer).setUint16(12, 0x88b5);
    new DataView(f.buffer).setUint32(14, i);
    for (let k = 18; k < size; k++) f[k] = (i + k) & 0xff;
    return f;
  };
  const rawRequire = createRequire(`${repo}/package.json`);
  interface RawSock {
    send(b: Buffer, o: number, l: number, a: string, cb: (e: Error | null) => void): void;
    on(ev: 'message', cb: (b: Buffer) => void): void;
    setOption(level: number, option: number, value: number): void;
  }
  const raw = rawRequire('raw-socket') as {
    createSocket(o: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSock;
    SocketLevel: { SOL_SOCKET: number };
    SocketOption: { SO_RCVBUF: number };
  };
  let rawSender: RawSock | undefined;
  /** Sockets held so that garbage collection cannot close them (raw-socket does not keep them alive). */
  const held: RawSock[] = [];

  type Req = Record<string, unknown> & { id: number; op: string; port?: number };
  const rx = (req: Req): Rx => {
    const r = ports.get(req.port!);
    if (r === undefined) throw new Error(`no port ${req.port}`);
    return r;
  };
  const ops: Record<string, (req: Req) => Promise<unknown>> = {
    async open(req) {
      const opts = req.opts as VxlanTunnelOptions & GreTunnelOptions;
      const port = req.kind === 'gre' ? await openGreTunnel(opts) : await openVxlanTunnel(opts);
      const r: Rx = { port, keep: req.keep !== false, count: 0, frames: [], seen: new Uint8Array(0), bad: 0, duplicates: 0, first: 0, last: 0 };
      const burstKey = req.burstKey as number | undefined;
      port.onFrames((batch: TunnelFrame[]) => {
        const now = performance.now();
        if (r.count === 0) r.first = now;
        r.last = now;
        for (const f of batch) {
          r.count++;
          if (r.keep) {
            r.frames.push({ hex: hex(f.innerFrame), key: f.tunnelKey, remote: f.remoteIp });
            continue;
          }
          // A burst frame says its number: regenerate it and compare, cheap enough not to slow
          // the receiver down.
          const b = f.innerFrame;
          const seq = b.length >= 18 ? new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(14) : -1;
          const want = seq >= 0 ? burstFrame(seq, b.length) : undefined;
          if (want === undefined || f.tunnelKey !== burstKey || Buffer.compare(Buffer.from(want), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) !== 0) {
            r.bad++;
            continue;
          }
          if (seq >= r.seen.length * 8) {
            const grown = new Uint8Array(Math.max(r.seen.length * 2, (seq >> 3) + 1, 1024));
            grown.set(r.seen);
            r.seen = grown;
          }
          if ((r.seen[seq >> 3]! & (1 << (seq & 7))) !== 0) r.duplicates++;
          r.seen[seq >> 3]! |= 1 << (seq & 7);
        }
      });
      const id = nextPort++;
      ports.set(id, r);
      return { port: id, localAddress: port.localAddress, localPort: port.localPort };
    },
    async send(req) {
      const frames = (req.frames as WireFrame[]).map((f) => ({
        innerFrame: new Uint8Array(Buffer.from(f.hex, 'hex')),
        tunnelKey: f.key,
        remoteIp: f.remote,
      }));
      return rx(req).port.send(frames);
    },
    async burst(req) {
      const [n, size, key, remote] = [req.n as number, req.size as number, req.key as number, req.remote as string];
      const frames: TunnelFrame[] = [];
      for (let i = 0; i < n; i++) frames.push({ innerFrame: burstFrame(i, size), tunnelKey: key, remoteIp: remote });
      // How long the event loop waits while the burst goes out: a 1 ms timer's lateness.
      let maxLagMs = 0;
      let ticks = 0;
      let last = performance.now();
      const probe = setInterval(() => {
        const now = performance.now();
        maxLagMs = Math.max(maxLagMs, now - last - 1);
        last = now;
        ticks++;
      }, 1);
      const t0 = performance.now();
      const accepted = await rx(req).port.send(frames);
      const ms = performance.now() - t0;
      clearInterval(probe);
      maxLagMs = Math.max(maxLagMs, performance.now() - last - 1);
      return { accepted, ms, maxLagMs, ticks };
    },
    async rx(req) {
      const r = rx(req);
      return {
        count: r.count,
        frames: r.frames,
        stats: r.port.stats(),
        bad: r.bad,
        duplicates: r.duplicates,
        spanMs: r.last - r.first,
      };
    },
    async setRemotes(req) {
      rx(req).port.setRemotes((req.remotes as string[] | null) ?? undefined);
      return true;
    },
    async close(req) {
      await rx(req).port.close();
      ports.delete(req.port!);
      return true;
    },
    async udp(req) {
      // Plain datagrams (well-formed or not) at a port, from a chosen local address.
      const s = dgram.createSocket(String(req.dst).includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((ok) => s.bind({ address: req.bind as string, port: 0 }, ok));
      for (const h of req.hexes as string[]) {
        await new Promise<void>((ok, fail) => s.send(Buffer.from(h, 'hex'), req.dstPort as number, req.dst as string, (e) => (e ? fail(e) : ok())));
      }
      s.close();
      return (req.hexes as string[]).length;
    },
    async raw(req) {
      // IP protocol 47 payloads built by the test, through raw-socket directly.
      rawSender ??= raw.createSocket({ protocol: 47 });
      for (const h of req.hexes as string[]) {
        const b = Buffer.from(h, 'hex');
        await new Promise<void>((ok, fail) => rawSender!.send(b, 0, b.length, req.dst as string, (e) => (e ? fail(e) : ok())));
      }
      return (req.hexes as string[]).length;
    },
    async openUnreferenced(req) {
      // A port nobody holds: only its callback's closure. It must live on until closed.
      const opts = req.opts as VxlanTunnelOptions & GreTunnelOptions;
      const port = req.kind === 'gre' ? await openGreTunnel(opts) : await openVxlanTunnel(opts);
      port.onFrames((batch: TunnelFrame[]) => {
        unreferenced.count += batch.length;
      });
      return true;
    },
    async gc() {
      for (let i = 0; i < 3; i++) {
        (globalThis as { gc?: () => void }).gc!();
        await new Promise((res) => setTimeout(res, 20));
      }
      return unreferenced.count;
    },
    async rawListen() {
      const listener = raw.createSocket({ protocol: 47, bufferSize: 65535 });
      listener.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_RCVBUF, 8 << 20); // keep every packet of a test
      listener.on('message', (b) => rawPackets.push(b.toString('hex')));
      held.push(listener);
      return true;
    },
    async rawPackets() {
      return rawPackets;
    },
  };
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const req = JSON.parse(line) as Req;
    const op = ops[req.op];
    if (op === undefined) {
      out({ id: req.id, ok: false, error: `unknown op ${req.op}` });
      return;
    }
    op(req).then(
      (result) => out({ id: req.id, ok: true, result }),
      (err: unknown) => out({ id: req.id, ok: false, error: err instanceof Error ? `${err.name}: ${err.message} ${(err as { code?: string }).code ?? ''}` : String(err) }),
    );
  });
  process.stdin.on('end', () => process.exit(0)); // the test process is gone
  out({ ready: true });
}

/** The test's handle on one child endpoint process. */
class Endpoint {
  #nextId = 1;
  constructor(readonly child: ChildHandle) {}

  async call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    const id = this.#nextId++;
    this.child.proc.stdin!.write(`${JSON.stringify({ ...args, id, op })}\n`);
    const line = await this.child.waitForLine((l) => l.startsWith(`{"id":${id},`), timeoutMs);
    const r = JSON.parse(line) as { ok: boolean; result: T; error?: string };
    if (!r.ok) throw new Error(`${op} in child: ${r.error}`);
    return r.result;
  }

  /** A port that keeps what it receives, or with burstKey one that checks burst frames and counts them. */
  async open(kind: 'vxlan' | 'gre', opts: VxlanTunnelOptions & GreTunnelOptions, burstKey?: number): Promise<number> {
    return (await this.call<{ port: number }>('open', { kind, opts, keep: burstKey === undefined, burstKey })).port;
  }

  send(port: number, frames: WireFrame[]): Promise<number> {
    return this.call('send', { port, frames });
  }

  rx(port: number): Promise<RxReport> {
    return this.call('rx', { port });
  }

  /** Waits until the port has received `count` frames (or fails naming what it has). */
  async waitRx(port: number, count: number, timeoutMs = 5000): Promise<RxReport> {
    let last: RxReport | undefined;
    await waitFor(
      async () => {
        last = await this.rx(port);
        return last.count >= count;
      },
      { timeoutMs, intervalMs: 20, what: `${count} frames on port ${port} (have ${last?.count}: ${JSON.stringify(last?.stats)})` },
    );
    return last!;
  }

  /** Waits until a stats counter of the port reaches `value`. */
  async waitStat(port: number, field: keyof TunnelStats, value: number, timeoutMs = 5000): Promise<TunnelStats> {
    let last: RxReport | undefined;
    await waitFor(
      async () => {
        last = await this.rx(port);
        return last.stats[field] >= value;
      },
      { timeoutMs, intervalMs: 20, what: `${field} >= ${value} (stats ${JSON.stringify(last?.stats)})` },
    );
    return last!.stats;
  }
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytesOf = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** An inner Ethernet frame of `len` bytes whose contents depend on seq, so no two are alike. */
function testFrame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0x0c, 0x01, 0x02, 0, 0, 0, 0x0c, 0x02]);
  if (len >= 14) new DataView(f.buffer).setUint16(12, ETHERTYPE_LOCAL_EXPERIMENTAL_1);
  for (let k = 14; k < len; k++) f[k] = (seq * 31 + k * 7) & 0xff;
  if (len >= 18) new DataView(f.buffer).setUint32(14, seq);
  return f;
}

function sha(h: string): string {
  return createHash('sha256').update(h).digest('hex').slice(0, 16);
}

const BURST_FRAME = 60;
const BURST_KEY_VXLAN = 0x123456;
const BURST_KEY_GRE = TUNNEL_KEY_TRACE_BIT | 0x1234;

/** Polls a burst receiver until its count stops moving (bounded: 10 s). */
async function settle(ep: Endpoint, port: number): Promise<RxReport> {
  let got = await ep.rx(port);
  for (let i = 0, last = -1; i < 100 && got.count !== last; i++) {
    last = got.count;
    await new Promise((res) => setTimeout(res, 100));
    got = await ep.rx(port);
  }
  return got;
}

function reportBurst(what: string, n: number, r: BurstReport, got: RxReport, kernelDrops: number): void {
  const rate = (count: number, ms: number): string => `${Math.round(count / (ms / 1000))} frames/s`;
  console.log(
    `${what} burst: ${n} x ${BURST_FRAME}-byte frames encapsulated and sent in ${r.ms.toFixed(0)} ms (${rate(n, r.ms)}); ` +
      `received ${got.count} (${rate(got.count, got.spanMs)} while it lasted), dropped by the receiving socket ${kernelDrops}; ` +
      `while sending, a 1 ms timer ran ${r.ticks} times, longest gap ${r.maxLagMs.toFixed(1)} ms`,
  );
}

function checkBurst(n: number, r: BurstReport, got: RxReport, kernelDrops: number): void {
  expect(r.accepted).toBe(n);
  // Every frame arrived or was dropped by the receiver's full socket buffer (the sender can
  // outrun it); each one that arrived is exactly the frame of its number, with its key, once.
  expect(got.count + kernelDrops).toBe(n);
  expect(got.bad).toBe(0);
  expect(got.duplicates).toBe(0);
  expect(got.stats.malformedDropped).toBe(0);
  // Chunks of 128 with a turn between them: the loop is never held for the whole burst (loose
  // bounds: these machines are shared, and a gap there can be noise rather than blocking).
  expect(r.maxLagMs).toBeLessThan(r.ms / 4);
  expect(r.ticks).toBeGreaterThan(r.ms / 20);
}

const KEYS = [1, 42, TUNNEL_KEY_FLOW_STATE, TUNNEL_KEY_TRACE_BIT | 42, TUNNEL_KEY_TRACE_BIT, 0, 0x7fffff];
const SIZES = [14, 60, 64, 1514, 1400, 9000, 333];

// ---------------------------------------------------------------------------------------------
// Without namespaces: the GRE codec against the independent layout below, and the send queue.
// ---------------------------------------------------------------------------------------------
describe('GRE codec (RFC 2784, RFC 2890)', () => {
  const frameArb = fc.uint8Array({ minLength: 14, maxLength: 300 });
  const keyArb = fc.integer({ min: 0, max: TUNNEL_KEY_FLOW_STATE });

  test('encodes what the independent layout lays out, and decodes it back', () => {
    fc.assert(
      fc.property(keyArb, frameArb, fc.boolean(), (key, inner, checksum) => {
        const ours = encodeGre(key, inner, checksum);
        expect(hexOf(ours)).toBe(hexOf(independentGre({ key, inner, checksum })));
        const d = decodeGre(ours) as GreDecoded;
        expect(isGreDecodeError(d)).toBe(false);
        expect([d.key, d.checksummed, hexOf(d.inner)]).toEqual([key, checksum, hexOf(inner)]);
      }),
    );
  });

  test('decodes a sequence number and skips it', () => {
    const inner = testFrame(1, 40);
    const d = decodeGre(independentGre({ key: 77, inner, sequence: 0xdeadbeef, checksum: true })) as GreDecoded;
    expect([d.key, d.sequence, hexOf(d.inner)]).toEqual([77, 0xdeadbeef, hexOf(inner)]);
  });

  test('any corrupted byte of a checksummed packet is caught', () => {
    // From byte 1 on: clearing the C bit in byte 0 makes another packet, one without a checksum.
    fc.assert(
      fc.property(keyArb, frameArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (key, inner, at, xor) => {
        const b = encodeGre(key, inner, true);
        b[1 + (at % (b.length - 1))] ^= xor;
        expect(isGreDecodeError(decodeGre(b))).toBe(true);
      }),
    );
  });

  test.each([
    ['truncated', new Uint8Array([0x20, 0x00, 0x65])],
    ['truncated', independentGre({ key: 1, inner: testFrame(1, 20) }).subarray(0, 7)],
    ['bad-version', independentGre({ key: 1, inner: testFrame(1, 20), version: 1 })],
    ['bad-flags', independentGre({ key: 1, inner: testFrame(1, 20), routing: true })],
    ['bad-protocol', independentGre({ key: 1, inner: testFrame(1, 20), protocol: 0x0800 })],
    ['no-key', independentGre({ key: undefined, inner: testFrame(1, 20) })],
    ['bad-key', independentGre({ key: 0x01000000, inner: testFrame(1, 20) })],
    ['bad-checksum', independentGre({ key: 1, inner: testFrame(1, 20), checksum: true, corruptChecksum: true })],
    ['short-inner', independentGre({ key: 1, inner: testFrame(1, 13) })],
  ])('drops %s', (reason, packet) => {
    expect(decodeGre(packet)).toMatchObject({ kind: 'greDecodeError', reason });
  });

  test('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => void decodeGre(b)));
  });

  test('the outer IPv4 header is stripped by its IHL, options included', () => {
    const gre = encodeGre(5, testFrame(3, 30));
    for (const optionWords of [0, 1, 10]) {
      const hl = 20 + optionWords * 4;
      const b = new Uint8Array(hl + gre.length);
      b[0] = 0x40 | (hl / 4);
      b[2] = b.length >> 8;
      b[3] = b.length & 0xff;
      b[9] = 47;
      b.set([192, 0, 2, 9], 16);
      b.set(gre, hl);
      expect(stripIp4Header(b)).toEqual({ dst: parseIp4('192.0.2.9'), start: hl, end: b.length });
    }
    expect(stripIp4Header(new Uint8Array(10))).toMatchObject({ reason: 'bad-ip-header' });
  });

  test('underlay addresses compare in one canonical form', () => {
    expect(canonicalTunnelIp('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalTunnelIp('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(canonicalTunnelIp('192.0.2.300')).toBeUndefined();
    expect(canonicalTunnelIp('host.example')).toBeUndefined();
  });
});

describe('TunnelSendQueue', () => {
  const frames = (from: number, n: number): TunnelFrame[] =>
    Array.from({ length: n }, (_, i) => ({ innerFrame: new Uint8Array([from + i]), tunnelKey: from + i, remoteIp: IP_B }));

  test('keeps the order of sends, transmits in chunks and yields to the event loop between them', async () => {
    const log: string[] = [];
    const q = new TunnelSendQueue({
      chunkSize: 4,
      maxQueuedFrames: 1000,
      onDropped: () => log.push('dropped'),
      transmit: async (fs, start, end) => {
        log.push(`tx ${fs.slice(start, end).map((f) => f.tunnelKey).join(',')}`);
        await Promise.resolve();
        return end - start;
      },
    });
    setImmediate(() => log.push('turn'));
    const a = q.enqueue(frames(0, 6));
    const b = q.enqueue(frames(100, 1));
    const c = q.enqueue(frames(200, 3));
    expect(await Promise.all([a, b, c])).toEqual([6, 1, 3]);
    // One chunk may span jobs; the immediate scheduled before the sends ran between chunks.
    expect(log).toEqual(['tx 0,1,2,3', 'turn', 'tx 4,5', 'tx 100', 'tx 200', 'tx 201,202']);
  });

  test('a send made right after an awaited one still goes out', async () => {
    const sent: number[] = [];
    const q = new TunnelSendQueue({
      chunkSize: 2,
      maxQueuedFrames: 100,
      onDropped: () => undefined,
      transmit: (fs, start, end) => {
        for (let i = start; i < end; i++) sent.push(fs[i]!.tunnelKey);
        return end - start;
      },
    });
    for (let round = 0; round < 5; round++) expect(await q.enqueue(frames(round * 10, 3))).toBe(3);
    expect(sent).toHaveLength(15);
  }, 5000);

  test('bounds what waits, drops the rest on close, and survives a transmit that throws', async () => {
    let dropped = 0;
    let calls = 0;
    const q = new TunnelSendQueue({
      chunkSize: 2,
      maxQueuedFrames: 5,
      onDropped: (n) => {
        dropped += n;
      },
      transmit: (_fs, start, end) => {
        if (++calls === 1) throw new Error('boom');
        return end - start;
      },
    });
    const first = q.enqueue(frames(0, 8)); // 3 over the bound; the first chunk of 2 throws
    expect(dropped).toBe(3 + 2);
    const second = q.enqueue(frames(50, 2));
    await q.close();
    // close() came while the queue waited for its turn: nothing more went out.
    expect(await first).toBe(0);
    expect(await second).toBe(0);
    expect(dropped).toBe(3 + 2 + 3 + 2);
    expect(q.queued).toBe(0);
    expect(await q.enqueue(frames(90, 4))).toBe(0);
    expect(dropped).toBe(3 + 2 + 3 + 2 + 4);
  });
});

describeNetns('tunnel ports between network namespaces', () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  let nsK: string;
  let epA: Endpoint;
  let epB: Endpoint;
  let epK: Endpoint;

  beforeAll(async () => {
    lab = await NetnsLab.create();
    nsA = await lab.addNamespace('a', { ipv6: true });
    nsB = await lab.addNamespace('b', { ipv6: true });
    nsK = await lab.addNamespace('k');
    await lab.addVeth({ ns: nsA, ifname: 'a0', addrs: [`${IP_A}/26`, `${IP_A_OTHER}/26`] }, { ns: nsB, ifname: 'b0', addrs: [`${IP_B}/26`] });
    await lab.addVeth({ ns: nsA, ifname: 'a1', addrs: [`${IP_A_K}/26`] }, { ns: nsK, ifname: 'k0', addrs: [`${IP_K}/26`] });
    // IPv6 underlay without duplicate address detection, so the addresses work at once.
    await lab.exec(nsA, 'ip', ['addr', 'add', `${IP6_A}/64`, 'dev', 'a0', 'nodad']);
    await lab.exec(nsB, 'ip', ['addr', 'add', `${IP6_B}/64`, 'dev', 'b0', 'nodad']);
    // Static neighbours: the kernel would otherwise queue only a few datagrams while ARP resolves.
    const [macA0, macB0, macA1, macK0] = await Promise.all([
      lab.linkMac(nsA, 'a0'),
      lab.linkMac(nsB, 'b0'),
      lab.linkMac(nsA, 'a1'),
      lab.linkMac(nsK, 'k0'),
    ]);
    const neigh = (ns: string, ip: string, mac: string, dev: string): Promise<unknown> =>
      lab.exec(ns, 'ip', ['neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
    await neigh(nsA, IP_B, macB0, 'a0');
    await neigh(nsB, IP_A, macA0, 'b0');
    await neigh(nsB, IP_A_OTHER, macA0, 'b0');
    await neigh(nsA, IP6_B, macB0, 'a0');
    await neigh(nsB, IP6_A, macA0, 'b0');
    await neigh(nsA, IP_K, macK0, 'a1');
    await neigh(nsK, IP_A_K, macA1, 'k0');
    // The independent implementation: the kernel's vxlan device on our port, its default
    // destination our endpoint in A.
    await lab.exec(nsK, 'ip', [
      'link', 'add', 'vx0', 'address', MAC_KERNEL, 'type', 'vxlan', 'id', String(KERNEL_VNI),
      'dstport', String(VXLAN_PORT_TOLLGATE), 'local', IP_K, 'remote', IP_A_K, 'dev', 'k0',
    ]);
    await lab.addAddress(nsK, 'vx0', `${OVERLAY_KERNEL}/24`);
    await lab.setLink(nsK, 'vx0', true);

    const start = (ns: string): Endpoint =>
      new Endpoint(lab.spawn(ns, process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', `(${endpointMain.toString()})(${JSON.stringify(REPO)})`]));
    [epA, epB, epK] = [start(nsA), start(nsB), start(nsK)];
    await Promise.all([epA, epB, epK].map((ep) => ep.child.waitForLine((l) => l.includes('"ready"'), 20_000)));
  }, 60_000);

  afterAll(async () => {
    await lab?.cleanup();
  });

  describe('VXLAN', () => {
    let vA: number;
    let vB: number;
    let kernelPort: number | undefined;
    /** Our endpoint facing the kernel's vxlan device in K (on the address it sends to). */
    const kernelPeer = async (): Promise<number> => (kernelPort ??= await epA.open('vxlan', { localAddress: IP_A_K, remotes: [IP_K] }));

    beforeAll(async () => {
      vA = await epA.open('vxlan', { localAddress: IP_A });
      vB = await epB.open('vxlan', { localAddress: IP_B, recvBufferSize: 8 << 20 });
    });

    test('frames cross A to B with their tunnel keys and identical bytes, in order', async () => {
      const frames: WireFrame[] = [];
      let seq = 0;
      for (const key of KEYS) for (const size of SIZES) frames.push({ hex: hexOf(testFrame(seq++, size)), key, remote: IP_B });
      expect(await epA.send(vA, frames)).toBe(frames.length);
      const got = await epB.waitRx(vB, frames.length);
      expect(got.frames.map((f) => [f.key, f.remote, sha(f.hex)])).toEqual(frames.map((f) => [f.key, IP_A, sha(f.hex)]));
      expect(got.frames.map((f) => f.hex)).toEqual(frames.map((f) => f.hex));
      // The flow-state key and the trace bit survive as they were.
      expect(got.frames.filter((f) => f.key === TUNNEL_KEY_FLOW_STATE)).toHaveLength(SIZES.length);
      // TRACE|42 and TRACE alone; 0x7fffff is every bit but the trace bit.
      expect(got.frames.filter((f) => (f.key & TUNNEL_KEY_TRACE_BIT) !== 0 && f.key !== TUNNEL_KEY_FLOW_STATE)).toHaveLength(2 * SIZES.length);
      expect(got.stats.malformedDropped).toBe(0);
      // And back the other way.
      const back = { hex: hexOf(testFrame(9999, 98)), key: TUNNEL_KEY_TRACE_BIT | 7, remote: IP_A };
      expect(await epB.send(vB, [back])).toBe(1);
      const gotA = await epA.waitRx(vA, 1);
      expect(gotA.frames).toEqual([{ ...back, remote: IP_B }]);
    });

    test('invalid frames to send are counted, not thrown, and the rest still go', async () => {
      const before = (await epA.rx(vA)).stats;
      const good = { hex: hexOf(testFrame(5, 60)), key: 3, remote: IP_B };
      const bad: WireFrame[] = [
        { hex: hexOf(testFrame(1, 13)), key: 3, remote: IP_B }, // shorter than Ethernet
        { hex: hexOf(testFrame(2, 60)), key: 0x1000000, remote: IP_B }, // 25 bits
        { hex: hexOf(testFrame(3, 60)), key: -1, remote: IP_B },
        { hex: hexOf(testFrame(4, 60)), key: 3, remote: 'not-an-address' }, // no DNS lookup either
        { hex: hexOf(testFrame(6, 60)), key: 3, remote: IP6_B }, // wrong family for this socket
      ];
      const rxBefore = (await epB.rx(vB)).count;
      expect(await epA.send(vA, [...bad, good])).toBe(1);
      const after = (await epA.rx(vA)).stats;
      expect(after.sendErrors - before.sendErrors).toBe(bad.length);
      expect(after.sent - before.sent).toBe(1);
      const got = await epB.waitRx(vB, rxBefore + 1);
      expect(got.frames.at(-1)).toEqual({ ...good, remote: IP_A });
    });

    test('malformed datagrams at the port are counted as drops and the endpoint keeps working', async () => {
      const before = await epB.rx(vB);
      const header = (flags: number, vni: number): string => hexOf(new Uint8Array([flags, 0, 0, 0, vni >>> 16, (vni >>> 8) & 255, vni & 255, 0]));
      const inner = hexOf(testFrame(77, 60));
      const crafted = [
        '', // empty datagram
        'ff00', // shorter than a VXLAN header
        '08000000000001', // 7 bytes
        header(0x00, 5) + inner, // I flag clear
        header(0xf7, 5) + inner, // every flag but I
        header(0x08, 5), // no inner frame at all
        header(0x08, 5) + hexOf(testFrame(1, 13)), // inner frame shorter than an Ethernet header
      ];
      // Random datagrams, classified here by RFC 7348 alone: valid ones must be delivered intact.
      const random = Array.from({ length: 200 }, (_, i) => randomBytes(i % 3 === 0 ? i % 7 : (i * 13) % 120));
      const isValid = (b: Uint8Array): boolean => b.length >= 8 + 14 && (b[0]! & 0x08) !== 0;
      const validRandom = random.filter(isValid);
      const malformed = crafted.length + random.length - validRandom.length;
      const wellFormed = header(0x08, 0xabcdef) + hexOf(testFrame(78, 70));
      // Reserved bits are ignored on receipt (RFC 7348 5): flags 0xff and non-zero reserved bytes pass.
      const reservedSet = 'ff123456' + '00000201' + hexOf(testFrame(79, 64));
      await epA.call('udp', { bind: IP_A, dst: IP_B, dstPort: VXLAN_PORT_TOLLGATE, hexes: [...crafted, ...random.map(hexOf), wellFormed, reservedSet] });
      const got = await epB.waitRx(vB, before.count + validRandom.length + 2);
      expect(got.stats.malformedDropped - before.stats.malformedDropped).toBe(malformed);
      const fresh = got.frames.slice(before.count);
      expect(fresh.slice(0, validRandom.length).map((f) => [f.key, f.hex])).toEqual(
        validRandom.map((b) => [(b[4]! << 16) | (b[5]! << 8) | b[6]!, hexOf(b.subarray(8))]),
      );
      expect(fresh.at(-2)).toEqual({ key: 0xabcdef, hex: hexOf(testFrame(78, 70)), remote: IP_A });
      expect(fresh.at(-1)).toEqual({ key: 2, hex: hexOf(testFrame(79, 64)), remote: IP_A });
      // Still working for the tunnel itself.
      const after = { hex: hexOf(testFrame(80, 60)), key: 9, remote: IP_B };
      await epA.send(vA, [after]);
      expect((await epB.waitRx(vB, got.count + 1)).frames.at(-1)).toEqual({ ...after, remote: IP_A });
    });

    test('datagrams from outside the remotes are counted and dropped', async () => {
      await epB.call('setRemotes', { port: vB, remotes: [IP_A] });
      try {
        const before = await epB.rx(vB);
        const frame = hexOf(testFrame(90, 60));
        const datagram = '08000000' + '00001100' + frame;
        await epA.call('udp', { bind: IP_A_OTHER, dst: IP_B, dstPort: VXLAN_PORT_TOLLGATE, hexes: [datagram, datagram] });
        await epA.call('udp', { bind: IP_A, dst: IP_B, dstPort: VXLAN_PORT_TOLLGATE, hexes: [datagram] });
        const got = await epB.waitRx(vB, before.count + 1);
        await epB.waitStat(vB, 'unknownRemoteDropped', before.stats.unknownRemoteDropped + 2);
        expect(got.frames.slice(before.count)).toEqual([{ key: 0x11, hex: frame, remote: IP_A }]);
        expect(got.stats.malformedDropped).toBe(before.stats.malformedDropped);
      } finally {
        await epB.call('setRemotes', { port: vB, remotes: null });
      }
    });

    test('a burst goes out in chunks without holding the event loop, and arrives intact', async () => {
      const n = 100_000;
      const burstB = await epB.open('vxlan', { localAddress: IP_B, port: 6688, recvBufferSize: 32 << 20 }, BURST_KEY_VXLAN);
      const burstA = await epA.open('vxlan', { localAddress: IP_A, port: 6688, maxQueuedFrames: n });
      const dropsBefore = await udpRcvbufErrors(lab, nsB);
      const r = await epA.call<BurstReport>('burst', { port: burstA, n, size: BURST_FRAME, key: BURST_KEY_VXLAN, remote: IP_B }, 60_000);
      const got = await settle(epB, burstB);
      const kernelDrops = (await udpRcvbufErrors(lab, nsB)) - dropsBefore;
      reportBurst('VXLAN', n, r, got, kernelDrops);
      checkBurst(n, r, got, kernelDrops);
    }, 90_000);

    test('the kernel vxlan device answers an ARP request and a ping our endpoint encapsulated', async () => {
      const port = await kernelPeer();
      const ourMac = parseMac(MAC_OURS)!;
      const arp = buildArpRequest(ourMac, parseIp4(OVERLAY_OURS)!, parseIp4(OVERLAY_KERNEL)!);
      expect(await epA.send(port, [{ hex: hexOf(arp), key: KERNEL_VNI, remote: IP_K }])).toBe(1);
      const arpBack = await epA.waitRx(port, 1);
      const reply = arpBack.frames[0]!;
      expect(reply.key).toBe(KERNEL_VNI);
      expect(reply.remote).toBe(IP_K);
      const d = decodeFrame(bytesOf(reply.hex));
      if (isDecodeError(d)) throw new Error(`ARP reply did not decode: ${JSON.stringify(d)}`);
      expect(d.eth.etherType).toBe(ETHERTYPE_ARP);
      expect(d.arp).toMatchObject({ op: ARP_OP_REPLY, sha: parseMac(MAC_KERNEL), spa: parseIp4(OVERLAY_KERNEL), tha: ourMac, tpa: parseIp4(OVERLAY_OURS) });
      expect(formatMac(d.eth.src)).toBe(MAC_KERNEL);

      // The ARP taught the kernel our MAC: an echo request now gets its reply through the tunnel.
      const data = testFrame(4242, 56).subarray(0, 48);
      const echo = encodeFrame({
        eth: { dst: parseMac(MAC_KERNEL)!, src: ourMac, etherType: ETHERTYPE_IPV4 },
        ip4: { tos: 0, id: 7, df: true, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_ICMP, src: parseIp4(OVERLAY_OURS)!, dst: parseIp4(OVERLAY_KERNEL)!, options: new Uint8Array(0) },
        l4: { kind: 'icmp4', type: ICMP_ECHO_REQUEST, code: 0, rest: echoRest(0x7711, 3), data },
      });
      expect(await epA.send(port, [{ hex: hexOf(echo), key: KERNEL_VNI, remote: IP_K }])).toBe(1);
      const pong = (await epA.waitRx(port, 2)).frames[1]!;
      expect(pong.key).toBe(KERNEL_VNI);
      const p = decodeFrame(bytesOf(pong.hex));
      if (isDecodeError(p)) throw new Error(`echo reply did not decode: ${JSON.stringify(p)}`);
      expect(p.ip4).toMatchObject({ src: parseIp4(OVERLAY_KERNEL), dst: parseIp4(OVERLAY_OURS), proto: IPPROTO_ICMP, checksumStatus: 'ok' });
      expect(p.l4).toMatchObject({ kind: 'icmp4', type: ICMP_ECHO_REPLY, rest: echoRest(0x7711, 3), checksumStatus: 'ok' });
      expect(hexOf((p.l4 as { data: Uint8Array }).data)).toBe(hexOf(data));
      expect((await lab.linkStats(nsK, 'vx0')).rxPackets).toBeGreaterThanOrEqual(2);
    });

    test('the kernel vxlan device encapsulates for our endpoint: a datagram sent through it arrives as a frame', async () => {
      const kPort = await kernelPeer();
      const before = await epA.rx(kPort);
      await lab.exec(nsK, 'ip', ['neigh', 'replace', OVERLAY_OURS, 'lladdr', MAC_OURS, 'dev', 'vx0', 'nud', 'permanent']);
      const payload = 'tollgate-over-kernel-vxlan';
      await epK.call('udp', { bind: OVERLAY_KERNEL, dst: OVERLAY_OURS, dstPort: 9, hexes: [Buffer.from(payload).toString('hex')] });
      const got = await epA.waitRx(kPort, before.count + 1);
      const f = got.frames.at(-1)!;
      expect(f.key).toBe(KERNEL_VNI);
      expect(f.remote).toBe(IP_K);
      const d = decodeFrame(bytesOf(f.hex));
      if (isDecodeError(d)) throw new Error(`frame did not decode: ${JSON.stringify(d)}`);
      expect(formatMac(d.eth.dst)).toBe(MAC_OURS);
      expect(d.l4).toMatchObject({ kind: 'udp', dstPort: 9 });
      expect(Buffer.from((d.l4 as { payload: Uint8Array }).payload).toString()).toBe(payload);
    });

    test('IPv6 underlay: frames cross with their keys', async () => {
      const a6 = await epA.open('vxlan', { localAddress: IP6_A });
      const b6 = await epB.open('vxlan', { localAddress: IP6_B, remotes: [IP6_A] });
      const frames = KEYS.map((key, i) => ({ hex: hexOf(testFrame(600 + i, 60 + i)), key, remote: IP6_B }));
      expect(await epA.send(a6, frames)).toBe(frames.length);
      const got = await epB.waitRx(b6, frames.length);
      expect(got.frames).toEqual(frames.map((f) => ({ ...f, remote: IP6_A })));
      expect(got.stats.unknownRemoteDropped).toBe(0);
    });

    test('a dual-stack port ("::") talks to IPv4 remotes with IPv4 addresses', async () => {
      const a4 = await epA.open('vxlan', { localAddress: IP_A, port: 6690 });
      const dual = await epB.open('vxlan', { localAddress: '::', port: 6690, remotes: [IP_A, IP6_A] });
      const out = { hex: hexOf(testFrame(670, 70)), key: 5, remote: IP_B };
      expect(await epA.send(a4, [out])).toBe(1);
      expect((await epB.waitRx(dual, 1)).frames).toEqual([{ ...out, remote: IP_A }]);
      const back = { hex: hexOf(testFrame(671, 71)), key: 6, remote: IP_A };
      expect(await epB.send(dual, [back])).toBe(1);
      expect((await epA.waitRx(a4, 1)).frames).toEqual([{ ...back, remote: IP_B }]);
    });
  });

  describe('GRE', () => {
    let gA: number;
    let gB: number;

    beforeAll(async () => {
      gA = await epA.open('gre', { localAddress: IP_A, checksum: true });
      gB = await epB.open('gre', { localAddress: IP_B });
      await epB.call('rawListen');
    });

    test('frames with keys cross between two raw-socket endpoints, checksummed one way', async () => {
      const frames: WireFrame[] = [];
      let seq = 0;
      for (const key of KEYS) for (const size of SIZES) frames.push({ hex: hexOf(testFrame(seq++, size)), key, remote: IP_B });
      expect(await epA.send(gA, frames)).toBe(frames.length);
      const got = await epB.waitRx(gB, frames.length);
      expect(got.frames.map((f) => [f.key, f.remote, sha(f.hex)])).toEqual(frames.map((f) => [f.key, IP_A, sha(f.hex)]));
      expect(got.frames.map((f) => f.hex)).toEqual(frames.map((f) => f.hex));
      expect(got.stats.malformedDropped).toBe(0);

      const back = KEYS.map((key, i) => ({ hex: hexOf(testFrame(700 + i, 64)), key, remote: IP_A }));
      expect(await epB.send(gB, back)).toBe(back.length);
      expect((await epA.waitRx(gA, back.length)).frames).toEqual(back.map((f) => ({ ...f, remote: IP_B })));
    });

    test('the bytes on the wire are what RFC 2784/2890 say, checked by an independent parser', async () => {
      const packets = (await epB.call<string[]>('rawPackets')).map(bytesOf);
      const greOf = (p: Uint8Array): Uint8Array => p.subarray((p[0]! & 0x0f) * 4);
      for (const p of packets) expect(p[9]).toBe(47);
      // A's port sends with the checksum; the first test's first frame was key 1, 14 bytes.
      const first = packets.map(greOf).find((g) => g.length === 12 + 14 && hexOf(g.subarray(12)) === hexOf(testFrame(0, 14)));
      expect(first).toBeDefined();
      const gre = first!;
      expect(Array.from(gre.subarray(0, 4))).toEqual([0xa0, 0x00, 0x65, 0x58]); // C and K set, version 0, TEB
      expect(onesComplementSum(gre)).toBe(0xffff); // the checksum holds over header and payload
      expect(Array.from(gre.subarray(6, 8))).toEqual([0, 0]); // Reserved1
      expect(Array.from(gre.subarray(8, 12))).toEqual([0, 0, 0, 1]); // the key
      // The flow-state key sits in the low 24 bits of the key field: the first test sent it with
      // every size, the 9000-byte frame reassembled from fragments by B's kernel.
      const flowState = packets.map(greOf).filter((g) => g.length >= 12 && hexOf(g.subarray(8, 12)) === '00ffffff');
      expect(flowState.map((g) => g.length - 12).sort((x, y) => x - y)).toEqual([...SIZES].sort((x, y) => x - y));
      for (const g of flowState) expect(onesComplementSum(g)).toBe(0xffff);
    });

    test('hand-built GRE packets are decoded; malformed ones are counted as drops', async () => {
      const before = await epB.rx(gB);
      const inner = testFrame(800, 60);
      const valid = [
        independentGre({ key: 0x000102, inner }),
        independentGre({ key: TUNNEL_KEY_FLOW_STATE, inner, checksum: true }),
        independentGre({ key: TUNNEL_KEY_TRACE_BIT | 5, inner, sequence: 99 }),
        independentGre({ key: 6, inner, checksum: true, sequence: 1 }),
      ];
      const bad = [
        new Uint8Array([0x20]), // shorter than the base header
        independentGre({ key: 1, inner }).subarray(0, 6), // key cut short
        independentGre({ key: 1, inner, version: 1 }),
        independentGre({ key: 1, inner, routing: true }),
        independentGre({ key: 1, inner, protocol: ETHERTYPE_IPV4 }),
        independentGre({ key: undefined, inner }),
        independentGre({ key: 0x1000000, inner }), // past 24 bits
        independentGre({ key: 1, inner, checksum: true, corruptChecksum: true }),
        independentGre({ key: 1, inner: testFrame(1, 13) }),
        ...Array.from({ length: 20 }, (_, i) => {
          const r = randomBytes(4 + i * 5);
          r[1] = (r[1]! & 0xf8) | 1; // version 1: never valid, whatever the rest
          return r;
        }),
      ];
      await epA.call('raw', { dst: IP_B, hexes: [...bad, ...valid].map(hexOf) });
      const got = await epB.waitRx(gB, before.count + valid.length);
      expect(got.stats.malformedDropped - before.stats.malformedDropped).toBe(bad.length);
      expect(got.frames.slice(before.count)).toEqual(
        [0x000102, TUNNEL_KEY_FLOW_STATE, TUNNEL_KEY_TRACE_BIT | 5, 6].map((key) => ({ key, hex: hexOf(inner), remote: IP_A })),
      );
      const after = { hex: hexOf(testFrame(801, 61)), key: 12, remote: IP_B };
      await epA.send(gA, [after]);
      expect((await epB.waitRx(gB, got.count + 1)).frames.at(-1)).toEqual({ ...after, remote: IP_A });
    });

    test('a burst goes out in chunks and arrives intact', async () => {
      // A to K: no other GRE socket there to copy every packet to.
      const n = 50_000;
      const burstK = await epK.open('gre', { localAddress: IP_K, recvBufferSize: 32 << 20 }, BURST_KEY_GRE);
      const burstA = await epA.open('gre', { localAddress: IP_A_K, maxQueuedFrames: n });
      const dropsBefore = await rawSocketDrops(lab, nsK);
      const r = await epA.call<BurstReport>('burst', { port: burstA, n, size: BURST_FRAME, key: BURST_KEY_GRE, remote: IP_K }, 60_000);
      const got = await settle(epK, burstK);
      const kernelDrops = (await rawSocketDrops(lab, nsK)) - dropsBefore;
      reportBurst('GRE', n, r, got, kernelDrops);
      checkBurst(n, r, got, kernelDrops);
    }, 90_000);

    test('IPv6 underlay: frames cross with their keys', async () => {
      const a6 = await epA.open('gre', { localAddress: IP6_A, checksum: true });
      const b6 = await epB.open('gre', { localAddress: IP6_B, remotes: [IP6_A] });
      const frames = KEYS.map((key, i) => ({ hex: hexOf(testFrame(650 + i, 60 + i * 100)), key, remote: IP6_B }));
      expect(await epA.send(a6, frames)).toBe(frames.length);
      const got = await epB.waitRx(b6, frames.length);
      expect(got.frames.map((f) => [f.key, f.remote, sha(f.hex)])).toEqual(frames.map((f) => [f.key, IP6_A, sha(f.hex)]));
      expect(got.stats.unknownRemoteDropped).toBe(0);
    });

    test('ports nobody references stay open through garbage collection', async () => {
      // raw-socket's native socket does not keep its JS object alive: the port must.
      await epB.call('openUnreferenced', { kind: 'gre', opts: { localAddress: IP_B } });
      await epB.call('openUnreferenced', { kind: 'vxlan', opts: { localAddress: IP_B, port: 6699 } });
      expect(await epB.call('gc')).toBe(0);
      await epA.send(gA, KEYS.map((key, i) => ({ hex: hexOf(testFrame(950 + i, 60)), key, remote: IP_B })));
      await epA.call('udp', { bind: IP_A, dst: IP_B, dstPort: 6699, hexes: ['0800000000000100' + hexOf(testFrame(960, 60))] });
      await waitFor(async () => (await epB.call<number>('gc')) === KEYS.length + 1, { timeoutMs: 5000, what: 'frames at the unreferenced ports' });
    });

    test('packets from outside the remotes are counted and dropped', async () => {
      await epB.call('setRemotes', { port: gB, remotes: [IP_A_OTHER] });
      try {
        const before = await epB.rx(gB);
        await epA.send(gA, [{ hex: hexOf(testFrame(900, 60)), key: 1, remote: IP_B }]);
        const stats = await epB.waitStat(gB, 'unknownRemoteDropped', before.stats.unknownRemoteDropped + 1);
        expect(stats.received).toBe(before.stats.received);
      } finally {
        await epB.call('setRemotes', { port: gB, remotes: null });
      }
    });
  });
});

/** RFC 1071 sum of b folded to 16 bits, written apart from packet/checksum.ts on purpose. */
function onesComplementSum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

interface GreSpec {
  key: number | undefined;
  inner: Uint8Array;
  checksum?: boolean;
  corruptChecksum?: boolean;
  sequence?: number;
  version?: number;
  routing?: boolean;
  protocol?: number;
}

/** A GRE packet laid out field by field from RFC 2784 2.1 and RFC 2890 2, independently of the codec. */
function independentGre(s: GreSpec): Uint8Array {
  const words: number[] = [];
  const c = s.checksum === true;
  const flags = (c ? 0x8000 : 0) | (s.routing === true ? 0x4000 : 0) | (s.key !== undefined ? 0x2000 : 0) | (s.sequence !== undefined ? 0x1000 : 0) | (s.version ?? 0);
  words.push(flags, s.protocol ?? 0x6558);
  if (c) words.push(0, 0);
  if (s.key !== undefined) words.push(Math.floor(s.key / 0x10000) & 0xffff, s.key & 0xffff);
  if (s.sequence !== undefined) words.push(s.sequence >>> 16, s.sequence & 0xffff);
  const b = new Uint8Array(words.length * 2 + s.inner.length);
  words.forEach((w, i) => {
    b[2 * i] = w >>> 8;
    b[2 * i + 1] = w & 0xff;
  });
  b.set(s.inner, words.length * 2);
  if (c) {
    let ck = ~onesComplementSum(b) & 0xffff;
    if (s.corruptChecksum === true) ck ^= 0x0100;
    b[4] = ck >>> 8;
    b[5] = ck & 0xff;
  }
  return b;
}

/** Datagrams the namespace's raw sockets dropped for a full receive buffer (/proc/net/raw, last column). */
async function rawSocketDrops(lab: NetnsLab, ns: string): Promise<number> {
  const lines = (await lab.exec(ns, 'cat', ['/proc/net/raw'])).stdout.trim().split('\n').slice(1);
  return lines.reduce((sum, l) => sum + Number(l.trim().split(/\s+/).at(-1)), 0);
}

async function udpRcvbufErrors(lab: NetnsLab, ns: string): Promise<number> {
  const snmp = (await lab.exec(ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/).slice(1));
  return Number(values![names!.indexOf('RcvbufErrors')]);
}
