// A flood for the isolation test: UDP frames that are each a new flow (source address and port
// counting up) sent as fast as AF_PACKET batches go, for a given time, into an interface of a
// namespace. Prints "sent N" at the end. Run: node --import tsx flood-generator.ts NS IF DSTMAC DST SECONDS
import { AfPacketPort } from '../../../src/agent-core/datapath/af-packet.js';
import { internetChecksum, parseIp4, parseMac } from '../../../src/agent-core/packet/index.js';

const [ns, ifname, dstMacText, dstText, secondsText] = process.argv.slice(2);
const dstMac = parseMac(dstMacText!)!;
const dst = parseIp4(dstText!)!;
const port = AfPacketPort.open(ifname!, { netns: ns });
const FRAME = 60;
const BATCH = 256;
const frames = Array.from({ length: BATCH }, () => new Uint8Array(FRAME));
let n = 0;

function fill(f: Uint8Array, i: number): void {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  v.setUint16(0, Math.floor(dstMac / 2 ** 32));
  v.setUint32(2, dstMac % 2 ** 32);
  v.setUint32(6, 0x0c000000);
  v.setUint16(10, 0x0099);
  v.setUint16(12, 0x0800);
  v.setUint8(14, 0x45);
  v.setUint16(16, 46 - 0);
  v.setUint8(22, 64);
  v.setUint8(23, 17);
  // Sources 198.51.100.128-254 (outside the uplink subnets of the lab), ports counting up.
  v.setUint32(26, ((198 << 24) | (51 << 16) | (100 << 8) | (128 + (i % 127))) >>> 0);
  v.setUint32(30, dst);
  v.setUint16(24, 0);
  v.setUint16(24, internetChecksum(f, 14, 34));
  v.setUint16(34, 1024 + (Math.floor(i / 127) % 60000));
  v.setUint16(36, 9);
  v.setUint16(38, 26);
  v.setUint16(40, 0);
}

const end = Date.now() + Number(secondsText) * 1000;
function burst(): void {
  if (Date.now() >= end) {
    console.log(`sent ${n}`);
    port.close();
    return;
  }
  for (let i = 0; i < BATCH; i++) fill(frames[i]!, n + i);
  n += port.send(frames);
  setImmediate(burst);
}
burst();
