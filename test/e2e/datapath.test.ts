// Both Datapath engines against the compliance suite (datapath-compliance.ts), then what only the
// worker engine promises (DESIGN: Threads and isolation): GRE refused clearly, crashes reported,
// and the main loop keeps turning while a flood of frames hits the worker.
import { fileURLToPath } from 'node:url';
import { InProcessDatapath } from '../../src/agent-core/datapath/in-process-datapath.js';
import { openVxlanTunnel } from '../../src/agent-core/datapath/vxlan-tunnel.js';
import { WorkerDatapath, WorkerDatapathError } from '../../src/agent-core/datapath/worker-datapath.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../helpers/netns.js';
import { datapathCompliance } from './datapath-compliance.js';

datapathCompliance('InProcessDatapath', async ({ localAddress, port }) => {
  const tunnel = await openVxlanTunnel({ localAddress, port });
  return new InProcessDatapath({ tunnel });
});

datapathCompliance('WorkerDatapath', ({ localAddress, port }) => WorkerDatapath.start({ tunnel: { localAddress, port } }));

const ADDON = fileURLToPath(new URL('../../build/Release/tollgate_af_packet.node', import.meta.url));

describe('WorkerDatapath', () => {
  test('refuses GRE with a clear error', async () => {
    const err = await WorkerDatapath.start({ tunnel: { kind: 'gre' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerDatapathError);
    expect((err as Error).message).toMatch(/VXLAN tunnels only.*GRE.*InProcessDatapath/);
  });

  test('a tunnel address it cannot bind rejects start with the socket error', async () => {
    const err = await WorkerDatapath.start({ tunnel: { localAddress: '192.0.2.250', port: 0 } }).catch((e: unknown) => e);
    expect((err as { name?: unknown }).name).toBe('TunnelError');
    expect((err as { code?: unknown }).code).toBe('EADDRNOTAVAIL');
  });

  test('a call that fails inside the worker is reported through onError and counted; the worker goes on', async () => {
    const errors: Error[] = [];
    const dp = await WorkerDatapath.start({ tunnel: { localAddress: '127.0.0.1', port: 0 }, onError: (e) => errors.push(e) });
    try {
      dp.setTunnelRemotes(['not-an-address']);
      const s = await dp.stats();
      expect(s.callErrors).toBe(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(TypeError);
      expect(errors[0]!.message).toMatch(/not-an-address/);
      expect(dp.running).toBe(true);
    } finally {
      await dp.close();
    }
  });

  test('a crash of the worker is reported through onError and counted; close still resolves', async () => {
    const errors: Error[] = [];
    const dp = await WorkerDatapath.start({ tunnel: { localAddress: '127.0.0.1', port: 0 }, onError: (e) => errors.push(e) });
    expect(dp.tunnelLocalPort).toBeGreaterThan(0);
    expect((await dp.stats()).workerCrashes).toBe(0);
    dp.simulateWorkerCrash();
    await waitFor(() => errors.length > 0, { what: 'onError' });
    expect(errors[0]!.message).toMatch(/crash/);
    expect(dp.running).toBe(false);
    expect(dp.crashes).toBe(1);
    await expect(dp.stats()).rejects.toThrow(/crash/);
    dp.flushFlows();
    expect(dp.callsDropped).toBe(1);
    await dp.close();
    await dp.close();
    expect(errors).toHaveLength(1);
  });

  const why = netnsUnavailableReason();
  const describeNetns = why === undefined ? describe : describe.skip;

  describeNetns('under a flood of frames that all miss the flow table', () => {
    let lab: NetnsLab;
    let nsDp: string;
    let nsF: string;

    beforeAll(async () => {
      lab = await NetnsLab.create();
      nsDp = await lab.addNamespace('dp');
      nsF = await lab.addNamespace('f');
      await lab.addVeth({ ns: nsF, ifname: 'flood0' }, { ns: nsDp, ifname: 'flood1' });
    });

    afterAll(async () => {
      await lab?.cleanup();
    });

    test('the main loop keeps turning, upcalls stay bounded, and every frame is accounted for', async () => {
      const maxUpcallsInFlight = 256;
      const dp = await WorkerDatapath.start({ tunnel: { localAddress: '127.0.0.1', port: 0 }, maxUpcallsInFlight });
      try {
        let upcalls = 0;
        let largestBatch = 0;
        dp.onUpcall((batch) => {
          upcalls += batch.length;
          largestBatch = Math.max(largestBatch, batch.length);
        });
        await dp.addPort(1, { kind: 'netdev', ifname: 'flood1', netns: nsDp });

        // A raw sender in the namespace: batches of 256 distinct UDP frames for a bounded time.
        const sender = lab.spawnNode(nsF, `
          import { createRequire } from 'node:module';
          const { AfPacketSocket } = createRequire(import.meta.url)(process.argv[1]);
          const s = new AfPacketSocket('flood0', {});
          const frames = Array.from({ length: 256 }, (_, i) => {
            const f = new Uint8Array(60);
            f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
            f[34] = i >> 8; f[35] = i & 0xff; f[36] = 0x13; f[37] = 0x88; f[39] = 26;
            return f;
          });
          let sent = 0;
          const end = Date.now() + Number(process.argv[2]);
          const loop = () => {
            for (let k = 0; k < 8; k++) sent += s.sendList(frames);
            if (Date.now() < end) setImmediate(loop);
            else { console.log(JSON.stringify({ sent })); s.close(); }
          };
          console.log('go');
          loop();`, [ADDON, '2000']);

        let ticks = 0;
        const ticker = setInterval(() => ticks++, 10);
        try {
          await sender.waitForLine((l) => l === 'go');
          const ticksAtStart = ticks;
          const done = await sender.waitForLine((l) => l.startsWith('{'), 15_000);
          const ticksDuringFlood = ticks - ticksAtStart;
          const { sent } = JSON.parse(done) as { sent: number };
          const s = await dp.stats();
          const port = s.ports[0]!;
          console.log(
            `flood: sent ${sent}, received ${port.rxFrames}, kernel drops ${port.kernelDrops}, upcalls ${s.upcalls}, ` +
              `upcall drops ${s.upcallQueueDropped}, largest batch ${largestBatch}, main-loop ticks during the flood ${ticksDuringFlood}`,
          );
          expect(sent).toBeGreaterThan(0);
          expect(ticksDuringFlood).toBeGreaterThan(0);
          expect(upcalls).toBeGreaterThan(0);
          expect(largestBatch).toBeLessThanOrEqual(maxUpcallsInFlight);
          // Every upcall counted reached the callback (the stats reply trails the upcalls it counts).
          expect(upcalls).toBe(s.upcalls);
          // Every frame the port handed over is a hit, an upcall, a counted drop or malformed.
          expect(port.rxFrames).toBe(s.hits + s.upcalls + s.upcallQueueDropped + s.malformedDropped);
        } finally {
          clearInterval(ticker);
        }
      } finally {
        await dp.close();
      }
    });
  });
});
