// The Datapath compliance suite (js-libp2p style): one set of end-to-end tests run against every
// implementation of the contract in datapath.ts (DESIGN: The packet's way, steps 1-3 and 6).
//
// Lab: namespaces A, B and C with one veth each into a namespace DP, whose ends are datapath
// ports (dp1: 1 = A, 2 = B; dp2: 1 = C). dp1 and dp2 are two VXLAN endpoints on loopback
// addresses of this run (127.x.y.1 and 127.x.y.2, one UDP port). Neighbours are static and IPv6
// is off, so the only frames the datapaths see are the ones a test sends.
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AfPacketError, AfPacketPort } from '../../src/agent-core/datapath/af-packet.js';
import type { Datapath, DatapathStats, DpAction, DpFlowSpec, DpFlowStateDatagram, DpUpcall } from '../../src/agent-core/datapath/datapath.js';
import {
  ETHERTYPE_IPV4, Field, IPPROTO_ICMP, KEY_WORDS, encodeVxlan, fieldBit, flowMatchFromFrame, isDecodeError, parseIp4, parseMac,
  setKeyField, setKeyIp,
} from '../../src/agent-core/packet/index.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../helpers/netns.js';

/** Where the datapath under test binds its VXLAN endpoint; remotePort is the same port on the peer. */
export interface DatapathEndpoint {
  readonly localAddress: string;
  readonly port: number;
}

export type DatapathFactory = (endpoint: DatapathEndpoint) => Promise<Datapath>;

const IP_A = '192.0.2.1';
const IP_B = '192.0.2.2';
const IP_C = '192.0.2.3';
const IP_VIRTUAL = '198.51.100.10';
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const MAC_C = '02:00:00:00:0c:01';
const MAC_VIRTUAL = '02:00:00:00:0e:01';
const KEY_TO_C = 0x1234;
const KEY_TO_A = 0x1235;
const KEY_NOBODY = 0x999;
const UDP_ECHO_PORT = 5000;

const ip = (text: string): number => parseIp4(text)!;
const mac = (text: string): number => parseMac(text)!;

/** A flow matching exactly the given fields (the rest of the key is ignored by the mask). */
export function flowSpec(match: Partial<Record<Field, number>>, actions: readonly DpAction[], tags: readonly string[] = []): DpFlowSpec {
  const key = new Float64Array(KEY_WORDS);
  let mask = 0;
  for (const [f, v] of Object.entries(match)) {
    const field = Number(f) as Field;
    if (field === Field.IpSrc || field === Field.IpDst) setKeyIp(key, field, v);
    else setKeyField(key, field, v);
    mask |= fieldBit(field);
  }
  return { key, mask, actions, tags, timeouts: { idleMs: 60_000, hardMs: 120_000 } };
}

function isEchoRequest(u: { port: number; frame: Uint8Array }, port: number, src: string, dst: string): boolean {
  const m = flowMatchFromFrame(u.frame, u.port);
  return !isDecodeError(m) && u.port === port && m.peek(Field.EthType) === ETHERTYPE_IPV4 && m.peek(Field.IpProto) === IPPROTO_ICMP
    && m.peek(Field.L4Src) === 8 && m.peekIp(Field.IpSrc) === ip(src) && m.peekIp(Field.IpDst) === ip(dst);
}

/** Mappings of AF_PACKET receive rings in this process. */
function ringMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('socket:[')).length;
}

async function canBind(address: string, port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind({ address, port, exclusive: true }, () => resolve(true));
  });
  await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

export function datapathCompliance(name: string, factory: DatapathFactory): void {
  const why = netnsUnavailableReason();
  const describeNetns = why === undefined ? describe : describe.skip;
  if (why !== undefined) console.warn(`${name} datapath compliance skipped: ${why}`);

  describeNetns(`${name}: Datapath compliance`, () => {
    let lab: NetnsLab;
    let nsDp: string;
    let nsA: string;
    let nsB: string;
    let nsC: string;
    let dp1: Datapath;
    let dp2: Datapath;
    let tun1: string;
    let tun2: string;
    let tunPort: number;
    const upcalls1: DpUpcall[] = [];
    const flowState2: DpFlowStateDatagram[] = [];
    const ping = (ns: string, dst: string, count: number): ReturnType<NetnsLab['exec']> =>
      lab.exec(ns, 'ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', dst], { allowFail: true, timeoutMs: 15_000 });
    const delta = async (dp: Datapath, before: DatapathStats, what: keyof Omit<DatapathStats, 'ports'>): Promise<number> =>
      (await dp.stats())[what] - before[what];

    beforeAll(async () => {
      lab = await NetnsLab.create();
      nsDp = await lab.addNamespace('dp');
      nsA = await lab.addNamespace('a');
      nsB = await lab.addNamespace('b');
      nsC = await lab.addNamespace('c');
      await lab.addVeth({ ns: nsA, ifname: 'va', addrs: [`${IP_A}/24`], mac: MAC_A }, { ns: nsDp, ifname: 'pa' });
      await lab.addVeth({ ns: nsB, ifname: 'vb', addrs: [`${IP_B}/24`], mac: MAC_B }, { ns: nsDp, ifname: 'pb' });
      await lab.addVeth({ ns: nsC, ifname: 'vc', addrs: [`${IP_C}/24`], mac: MAC_C }, { ns: nsDp, ifname: 'pc' });
      const neigh = (ns: string, dev: string, addr: string, lladdr: string): Promise<unknown> =>
        lab.exec(ns, 'ip', ['neigh', 'replace', addr, 'lladdr', lladdr, 'dev', dev, 'nud', 'permanent']);
      await neigh(nsA, 'va', IP_B, MAC_B);
      await neigh(nsA, 'va', IP_C, MAC_C);
      await neigh(nsA, 'va', IP_VIRTUAL, MAC_VIRTUAL);
      await lab.exec(nsA, 'ip', ['route', 'add', `${IP_VIRTUAL}/32`, 'dev', 'va']);
      await neigh(nsB, 'vb', IP_A, MAC_A);
      await neigh(nsC, 'vc', IP_A, MAC_A);
      // Loopback addresses and a UDP port of this run; another on a clash.
      for (let attempt = 0; ; attempt++) {
        const net = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
        tun1 = `${net}.1`;
        tun2 = `${net}.2`;
        tunPort = randomInt(20_000, 60_000);
        try {
          dp1 = await factory({ localAddress: tun1, port: tunPort });
          dp2 = await factory({ localAddress: tun2, port: tunPort }).catch(async (err: unknown) => {
            await dp1.close();
            throw err;
          });
          break;
        } catch (err) {
          if (attempt >= 4 || (err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
        }
      }
      dp1.onUpcall((batch) => upcalls1.push(...batch.map((u) => ({ port: u.port, frame: u.frame.slice() }))));
      dp2.onFlowState((d) => flowState2.push({ remoteIp: d.remoteIp, payload: d.payload.slice() }));
      await dp1.addPort(1, { kind: 'netdev', ifname: 'pa', netns: nsDp });
      await dp1.addPort(2, { kind: 'netdev', ifname: 'pb', netns: nsDp });
      await dp2.addPort(1, { kind: 'netdev', ifname: 'pc', netns: nsDp });
    });

    beforeEach(async () => {
      dp1.flushFlows();
      dp2.flushFlows();
      for (const k of [KEY_TO_A, KEY_TO_C, KEY_NOBODY]) {
        dp1.setTunnelKey(k, undefined);
        dp2.setTunnelKey(k, undefined);
      }
      await Promise.all([dp1.stats(), dp2.stats()]); // the calls above have been carried out
      upcalls1.length = 0;
      flowState2.length = 0;
    });

    afterAll(async () => {
      await dp1?.close();
      await dp2?.close();
      await lab?.cleanup();
    });

    test('a frame from a namespace comes up as an upcall with its port and bytes', async () => {
      const before = await dp1.stats();
      await ping(nsA, IP_B, 1);
      await waitFor(() => upcalls1.some((u) => isEchoRequest(u, 1, IP_A, IP_B)), { what: 'the echo request upcall' });
      expect(await delta(dp1, before, 'upcalls')).toBeGreaterThanOrEqual(1);
    });

    test('an installed flow forwards later frames without upcalls: ping between two namespaces', async () => {
      dp1.installFlow(flowSpec({ [Field.InPort]: 1 }, [{ kind: 'output', port: 2 }]));
      dp1.installFlow(flowSpec({ [Field.InPort]: 2 }, [{ kind: 'output', port: 1 }]));
      const before = await dp1.stats();
      expect(before.flows).toBe(2);
      const r = await ping(nsA, IP_B, 3);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      const after = await dp1.stats();
      expect(after.hits - before.hits).toBeGreaterThanOrEqual(6);
      expect(after.upcalls - before.upcalls).toBe(0);
      expect(upcalls1).toHaveLength(0);
    });

    test("a flow's length bound: longer IP packets come up as upcalls (counted), shorter ones are forwarded", async () => {
      dp1.installFlow({ ...flowSpec({ [Field.InPort]: 1 }, [{ kind: 'output', port: 2 }]), maxIpLength: 200 });
      dp1.installFlow(flowSpec({ [Field.InPort]: 2 }, [{ kind: 'output', port: 1 }]));
      const before = await dp1.stats();
      // 100 bytes of payload: 128-byte IP packets, within the bound.
      expect((await lab.exec(nsA, 'ping', ['-n', '-c', '2', '-i', '0.2', '-W', '2', '-s', '100', IP_B], { allowFail: true, timeoutMs: 15_000 })).stdout)
        .toMatch(/2 packets transmitted, 2 received/);
      expect(await delta(dp1, before, 'oversizeUpcalls')).toBe(0);
      // 300 bytes: 328-byte packets exceed it and go up; nothing answers them here.
      const mid = await dp1.stats();
      await lab.exec(nsA, 'ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', '-s', '300', IP_B], { allowFail: true, timeoutMs: 15_000 });
      await waitFor(() => upcalls1.filter((u) => isEchoRequest(u, 1, IP_A, IP_B) && u.frame.length >= 14 + 328).length >= 2, { what: 'the long echo requests as upcalls' });
      expect(await delta(dp1, mid, 'oversizeUpcalls')).toBe(2);
      expect(await delta(dp1, mid, 'upcalls')).toBe(2);
      expect((await dp1.stats()).flows).toBe(2);
    });

    test('header rewrites keep checksums valid: ping and UDP to an address the datapath translates', async () => {
      const toB: DpAction[] = [
        { kind: 'setField', field: Field.EthDst, value: mac(MAC_B) },
        { kind: 'setField', field: Field.IpDst, value: ip(IP_B) },
        { kind: 'output', port: 2 },
      ];
      const backToA: DpAction[] = [
        { kind: 'setField', field: Field.EthSrc, value: mac(MAC_VIRTUAL) },
        { kind: 'setField', field: Field.IpSrc, value: ip(IP_VIRTUAL) },
        { kind: 'output', port: 1 },
      ];
      dp1.installFlow(flowSpec({ [Field.InPort]: 1, [Field.EthType]: ETHERTYPE_IPV4, [Field.IpDst]: ip(IP_VIRTUAL) }, toB));
      dp1.installFlow(flowSpec({ [Field.InPort]: 2, [Field.EthType]: ETHERTYPE_IPV4, [Field.IpSrc]: ip(IP_B) }, backToA));
      await dp1.stats();
      const r = await ping(nsA, IP_VIRTUAL, 3);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(r.stdout).toContain(`from ${IP_VIRTUAL}`);

      // UDP: the pseudo-header sum covers the rewritten addresses; a wrong checksum is dropped by the kernel.
      const server = lab.spawnNode(nsB, `
        import dgram from 'node:dgram';
        const s = dgram.createSocket('udp4');
        s.on('message', (m, r) => s.send(m, r.port, r.address));
        s.bind(${UDP_ECHO_PORT}, '${IP_B}', () => console.log('ready'));`);
      await server.waitForLine((l) => l === 'ready');
      const client = lab.spawnNode(nsA, `
        import dgram from 'node:dgram';
        const s = dgram.createSocket('udp4');
        let n = 0;
        const t = setInterval(() => { if (++n > 10) process.exit(3); s.send('hello through the datapath ' + n, ${UDP_ECHO_PORT}, '${IP_VIRTUAL}'); }, 200);
        s.on('message', (m, r) => { console.log(JSON.stringify({ text: m.toString(), from: r.address + ':' + r.port })); clearInterval(t); s.close(); });`);
      const line = await client.waitForLine((l) => l.startsWith('{'), 5000);
      expect(JSON.parse(line)).toEqual({ text: expect.stringMatching(/^hello through the datapath/), from: `${IP_VIRTUAL}:${UDP_ECHO_PORT}` });
      await server.stop();
    });

    test('tunnel output reaches the other datapath, which outputs by tunnel key to its port', async () => {
      dp2.setTunnelKey(KEY_TO_C, 1);
      dp1.setTunnelKey(KEY_TO_A, 1);
      dp1.installFlow(flowSpec({ [Field.InPort]: 1, [Field.EthType]: ETHERTYPE_IPV4, [Field.IpDst]: ip(IP_C) }, [{ kind: 'tunnel', remoteIp: tun2, key: KEY_TO_C }]));
      dp2.installFlow(flowSpec({ [Field.InPort]: 1 }, [{ kind: 'tunnel', remoteIp: tun1, key: KEY_TO_A }]));
      const [b1, b2] = await Promise.all([dp1.stats(), dp2.stats()]);
      const r = await ping(nsA, IP_C, 3);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(await delta(dp1, b1, 'tunnelSent')).toBeGreaterThanOrEqual(3);
      expect(await delta(dp1, b1, 'tunnelDelivered')).toBeGreaterThanOrEqual(3);
      expect(await delta(dp2, b2, 'tunnelDelivered')).toBeGreaterThanOrEqual(3);
      expect(await delta(dp2, b2, 'upcalls')).toBe(0);
    });

    test('unknown tunnel keys, malformed frames and malformed datagrams are dropped and counted; forwarding goes on', async () => {
      dp1.installFlow(flowSpec({ [Field.InPort]: 1, [Field.EthType]: ETHERTYPE_IPV4, [Field.IpDst]: ip(IP_C) }, [{ kind: 'tunnel', remoteIp: tun2, key: KEY_NOBODY }]));
      const [b1, b2] = await Promise.all([dp1.stats(), dp2.stats()]);
      const r = await lab.exec(nsA, 'ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', IP_C], { allowFail: true });
      expect(r.code).not.toBe(0);
      await waitFor(async () => (await delta(dp2, b2, 'unknownTunnelKeyDropped')) >= 2, { what: 'unknown-key drops' });

      // Frames whose headers cannot be parsed: IPv4 cut inside its header, ARP with a bad hardware type.
      const tx = AfPacketPort.open('va', { netns: nsA });
      try {
        const eth = [...[2, 0, 0, 0, 0x0b, 1], ...[2, 0, 0, 0, 0x0a, 1]];
        const shortIp = Uint8Array.from([...eth, 0x08, 0x00, 0x45, 0, 0, 60, 0, 0]);
        const badArp = Uint8Array.from([...eth, 0x08, 0x06, 0, 9, 8, 0, 6, 4, 0, 1, ...new Array<number>(20).fill(0)]);
        expect(tx.send([shortIp, badArp, shortIp])).toBe(3);
      } finally {
        tx.close();
      }
      await waitFor(async () => (await delta(dp1, b1, 'malformedDropped')) >= 3, { what: 'malformed drops' });
      expect(await delta(dp1, b1, 'malformedDropped')).toBe(3);
      expect(await delta(dp1, b1, 'upcalls')).toBe(0);

      // Datagrams on the tunnel port that are not VXLAN, or carry less than an Ethernet header.
      const s = dgram.createSocket('udp4');
      try {
        await new Promise<void>((res) => s.bind({ address: tun1, port: 0 }, () => res()));
        for (const d of [Uint8Array.from([1, 2, 3]), encodeVxlan(KEY_TO_C, new Uint8Array(6)), new Uint8Array(40)]) {
          await new Promise<void>((res, rej) => s.send(d, tunPort, tun2, (err) => (err ? rej(err) : res())));
        }
      } finally {
        s.close();
      }
      await waitFor(async () => (await delta(dp2, b2, 'tunnelMalformedDropped')) >= 3, { what: 'malformed tunnel drops' });

      dp1.installFlow(flowSpec({ [Field.InPort]: 1 }, [{ kind: 'output', port: 2 }]));
      dp1.installFlow(flowSpec({ [Field.InPort]: 2 }, [{ kind: 'output', port: 1 }]));
      expect((await ping(nsA, IP_B, 1)).code).toBe(0);
    });

    test('calls keep their order: an invalidate right after an install removes it', async () => {
      for (let i = 0; i < 100; i++) {
        dp1.installFlow(flowSpec({ [Field.InPort]: 1, [Field.L4Src]: i }, [{ kind: 'output', port: 2 }], [`order:${i % 2}`]));
      }
      dp1.invalidate(['order:0']);
      dp1.installFlow(flowSpec({ [Field.InPort]: 1, [Field.L4Src]: 1000 }, [], ['order:0']));
      expect((await dp1.stats()).flows).toBe(51);
      dp1.invalidate(['order:0', 'order:1']);
      expect((await dp1.stats()).flows).toBe(0);
    });

    test('invalidate by tag removes the flow: frames go up again', async () => {
      dp1.installFlow(flowSpec({ [Field.InPort]: 1 }, [{ kind: 'output', port: 2 }], ['route:ab']));
      dp1.installFlow(flowSpec({ [Field.InPort]: 2 }, [{ kind: 'output', port: 1 }], ['route:ab']));
      const before = await dp1.stats();
      expect((await ping(nsA, IP_B, 2)).code).toBe(0);
      expect(await delta(dp1, before, 'upcalls')).toBe(0);
      dp1.invalidate(['route:ab']);
      const after = await dp1.stats();
      expect(after.flows).toBe(0);
      expect(after.flowsInvalidated - before.flowsInvalidated).toBe(2);
      expect((await ping(nsA, IP_B, 1)).code).not.toBe(0);
      await waitFor(() => upcalls1.some((u) => isEchoRequest(u, 1, IP_A, IP_B)), { what: 'the upcall after invalidation' });
    });

    test('flow-state datagrams go through sendFlowState and arrive at onFlowState', async () => {
      const payloads = Array.from({ length: 5 }, (_, i) => Uint8Array.from({ length: 20 + i * 100 }, (_, k) => (i * 31 + k) & 0xff));
      for (const p of payloads) dp1.sendFlowState(tun2, p);
      await waitFor(() => flowState2.length === payloads.length, { what: 'five flow-state datagrams' });
      expect(flowState2.map((d) => d.remoteIp)).toEqual(payloads.map(() => tun1));
      expect(flowState2.map((d) => Buffer.from(d.payload).toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
    });

    test('removePort removes the flows of that in-port; addPort on a missing interface fails clearly', async () => {
      dp1.installFlow(flowSpec({ [Field.InPort]: 1 }, [{ kind: 'output', port: 2 }]));
      dp1.installFlow(flowSpec({ [Field.InPort]: 2 }, [{ kind: 'output', port: 1 }]));
      expect((await dp1.stats()).flows).toBe(2);
      await dp1.removePort(2);
      const s = await dp1.stats();
      expect(s.flows).toBe(1);
      expect(s.ports.map((p) => p.port)).toEqual([1]);
      await dp1.removePort(7); // not open: nothing to do
      const err = await dp1.addPort(3, { kind: 'netdev', ifname: 'nosuchdev0', netns: nsDp }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AfPacketError);
      expect((err as AfPacketError).code).toBe('ENODEV');
      await dp1.addPort(2, { kind: 'netdev', ifname: 'pb', netns: nsDp });
      expect((await dp1.stats()).ports.map((p) => p.port).sort()).toEqual([1, 2]);
    });

    test('close is clean: sockets and rings released, later calls are no-ops, close again resolves', async () => {
      const rings = ringMappings();
      const address = tun1.replace(/\.1$/, '.3');
      const dp = await factory({ localAddress: address, port: tunPort });
      await dp.addPort(1, { kind: 'netdev', ifname: 'pb', netns: nsDp });
      expect(ringMappings()).toBe(rings + 1);
      expect(await canBind(address, tunPort)).toBe(false);
      await dp.close();
      expect(ringMappings()).toBe(rings);
      expect(await canBind(address, tunPort)).toBe(true);
      expect(() => {
        dp.installFlow(flowSpec({ [Field.InPort]: 1 }, []));
        dp.execute(new Uint8Array(60), [{ kind: 'output', port: 1 }]);
      }).not.toThrow();
      await dp.close();
    });
  });
}
