// A stand-in agent for the fate-sharing test: a separate Node process that owns a supervised gobgpd
// with one peer, prints {"pid": <gobgpd pid>} once it runs, and then idles until it is killed.
// Usage: node --import tsx gobgpd-owner.ts '<json {socket, netns, peer: BgpPeerConfig}>'
import { pino } from 'pino';
import { GobgpdSupervisor, peerToApi, type BgpPeerConfig } from '../../../src/bgp/index.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { socket: string; netns: string; asn: number; routerId: string; peer: BgpPeerConfig };
const sup = new GobgpdSupervisor({
  api: { socket: args.socket },
  netns: args.netns,
  logger: pino({ level: 'silent' }),
  configure: async (client) => {
    await client.startBgp({ asn: args.asn, router_id: args.routerId, listen_port: 179 });
    await client.addPeer(peerToApi(args.peer, args.asn));
  },
});
await sup.start();
process.stdout.write(`${JSON.stringify({ pid: sup.pid })}\n`);
setInterval(() => undefined, 60_000);
