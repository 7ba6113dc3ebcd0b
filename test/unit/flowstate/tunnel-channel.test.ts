// Flow state carried by the tunnel: every message is long enough to be a tunnel's inner frame
// unpadded, the tunnel frame is byte for byte the own-socket datagram, the receiver takes messages
// without a VXLAN header, and the tunnel-port and datapath adapters (fed fake ports here) keep count.
import fc from 'fast-check';
import {
  FlowStateTransport, FlowStateTransportHasNoSocket, MIN_MESSAGE_BYTES, PushReceiver, PushSender, createHmacAuthenticator,
  datagramMessage, datapathFlowStateChannel, decodeMessage, encodeDatagram, encodeMessage, isFlowStateFrame,
  tunnelPortChannel,
} from '../../../src/agent-core/flowstate/index.js';
import { TUNNEL_MIN_INNER_FRAME, type TunnelFrame } from '../../../src/agent-core/datapath/tunnel-port.js';
import type { DpFlowStateDatagram } from '../../../src/agent-core/datapath/datapath.js';
import { TUNNEL_KEY_FLOW_STATE, encodeVxlan } from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';

const KEY = createHmacAuthenticator('cluster secret');

function bytes(x: Uint8Array | { kind: string }): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new Error(`encode failed: ${JSON.stringify(x)}`);
  return x;
}

describe('flow-state messages as tunnel inner frames', () => {
  test('the shortest STATE and ACK messages are MIN_MESSAGE_BYTES, more than an Ethernet header', () => {
    const state = bytes(encodeMessage({ type: 'state', sender: 's', epoch: 0, seq: 0, ingressPortId: '', egressPortIds: [], entries: [] }));
    const ack = bytes(encodeMessage({ type: 'ack', sender: 's', epoch: 0, ackedSender: 'a', ackedEpoch: 0, seqs: [] }));
    expect([state.length, ack.length]).toEqual([MIN_MESSAGE_BYTES, MIN_MESSAGE_BYTES]);
    expect(MIN_MESSAGE_BYTES).toBeGreaterThanOrEqual(TUNNEL_MIN_INNER_FRAME);
  });

  test('any message, tagged or not, is at least MIN_MESSAGE_BYTES: no padding is ever needed', () => {
    fc.assert(
      fc.property(A.message, fc.boolean(), (m, tagged) => {
        expect(bytes(encodeMessage(m, tagged ? KEY : undefined)).length).toBeGreaterThanOrEqual(MIN_MESSAGE_BYTES);
      }),
      { numRuns: 1000 },
    );
  });

  test('a padded message is refused: the message must end where its fields end', () => {
    const m = bytes(encodeMessage({ type: 'ack', sender: 's', epoch: 0, ackedSender: 'a', ackedEpoch: 0, seqs: [] }));
    const padded = new Uint8Array(m.length + 4);
    padded.set(m);
    expect(decodeMessage(padded)).toMatchObject({ reason: 'bad-length' });
  });

  test('the tunnel frame (VXLAN header with key 0xFFFFFF + message) is the own-socket datagram, byte for byte', () => {
    fc.assert(
      fc.property(A.message, fc.boolean(), (m, tagged) => {
        const auth = tagged ? KEY : undefined;
        const datagram = bytes(encodeDatagram(m, auth));
        const message = bytes(encodeMessage(m, auth));
        expect(datagramMessage(datagram)).toEqual(message);
        expect(encodeVxlan(TUNNEL_KEY_FLOW_STATE, message)).toEqual(datagram);
      }),
      { numRuns: 500 },
    );
  });

  test('PushReceiver.onMessage takes the message alone and refuses one with a second VXLAN header', () => {
    const sender = new PushSender({ hostId: 'a', epoch: 1, auth: KEY });
    const [d] = sender.pushFlowState({ ingressPortId: 'i', egressPortIds: ['e'], entries: [{ kind: 'conntrack', key: 'k', lifetimeMs: 1 }] }, ['b'], 0);
    const receiver = new PushReceiver({ hostId: 'b', epoch: 2, auth: KEY });
    const r = receiver.onMessage(datagramMessage(d.payload));
    if (r.kind !== 'state') throw new Error(r.kind);
    expect(r.changes).toEqual([{ kind: 'conntrack', key: 'k' }]);
    const ack = decodeMessage(datagramMessage(r.ack as Uint8Array), KEY);
    expect(ack).toMatchObject({ type: 'ack', ackedSender: 'a', ackedEpoch: 1, seqs: [1] });
    // What the tunnel would deliver had the datagram been sent as the inner frame: a double header.
    expect(receiver.onMessage(d.payload)).toEqual({ kind: 'dropped', reason: 'bad-magic' });
    // And a bare message is not a datagram.
    expect(receiver.onDatagram(datagramMessage(d.payload))).toEqual({ kind: 'dropped', reason: 'not-vxlan' });
    expect(receiver.counters()).toMatchObject({ received: 1, malformed: 2, badAuth: 0 });
  });
});

/** A stand-in for the port's send queue: records frames, accepts as many as `accept` says. */
function fakeTunnel(accept = (_f: TunnelFrame) => true) {
  const frames: TunnelFrame[] = [];
  return {
    frames,
    send(batch: readonly TunnelFrame[]): Promise<number> {
      frames.push(...batch);
      return Promise.resolve(batch.filter(accept).length);
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('tunnelPortChannel', () => {
  const message = bytes(encodeMessage({ type: 'ack', sender: 's', epoch: 0, ackedSender: 'a', ackedEpoch: 0, seqs: [9] }));

  test('send: one frame with key 0xFFFFFF whose inner frame is the message itself', async () => {
    const tunnel = fakeTunnel((f) => f.remoteIp !== '192.0.2.99');
    const ch = tunnelPortChannel(tunnel);
    ch.send('192.0.2.1', message);
    ch.send('192.0.2.99', message);
    await settle();
    expect(tunnel.frames).toHaveLength(2);
    expect(tunnel.frames[0]).toEqual({ innerFrame: message, tunnelKey: TUNNEL_KEY_FLOW_STATE, remoteIp: '192.0.2.1' });
    expect(tunnel.frames[0].innerFrame).toBe(message);
    expect(ch.counters()).toMatchObject({ sent: 1, sendFailed: 1 });
  });

  test('send: a payload shorter than an Ethernet header never reaches the port', async () => {
    const tunnel = fakeTunnel();
    const ch = tunnelPortChannel(tunnel);
    ch.send('192.0.2.1', message.subarray(0, TUNNEL_MIN_INNER_FRAME - 1));
    ch.send('192.0.2.1', message.subarray(0, TUNNEL_MIN_INNER_FRAME));
    await settle();
    expect(tunnel.frames.map((f) => f.innerFrame.length)).toEqual([TUNNEL_MIN_INNER_FRAME]);
    expect(ch.counters()).toMatchObject({ tooShortDropped: 1, sent: 1 });
  });

  test('deliver: flow-state frames reach the receiver; others and those without a receiver are counted', () => {
    const ch = tunnelPortChannel(fakeTunnel());
    const frame: TunnelFrame = { innerFrame: message, tunnelKey: TUNNEL_KEY_FLOW_STATE, remoteIp: '198.51.100.7' };
    const other: TunnelFrame = { ...frame, tunnelKey: 42 };
    expect([isFlowStateFrame(frame), isFlowStateFrame(other)]).toEqual([true, false]);
    ch.deliver(frame);
    const got: [string, Uint8Array][] = [];
    ch.onReceive((ip, m) => got.push([ip, m]));
    ch.deliver(frame);
    ch.deliver(other);
    expect(got).toEqual([['198.51.100.7', message]]);
    expect(ch.counters()).toEqual({ sent: 0, sendFailed: 0, tooShortDropped: 0, received: 1, unhandledDropped: 1, wrongKeyDropped: 1 });
  });
});

describe('datapathFlowStateChannel', () => {
  test('maps send and receive onto sendFlowState and onFlowState unchanged', () => {
    const sent: [string, Uint8Array][] = [];
    let deliver: ((d: DpFlowStateDatagram) => void) | undefined;
    const ch = datapathFlowStateChannel({
      sendFlowState: (ip, p) => sent.push([ip, p]),
      onFlowState: (cb) => {
        deliver = cb;
      },
    });
    const m = new Uint8Array(30).fill(7);
    ch.send('203.0.113.5', m);
    expect(sent).toEqual([['203.0.113.5', m]]);
    const got: [string, Uint8Array][] = [];
    ch.onReceive((ip, p) => got.push([ip, p]));
    deliver?.({ remoteIp: '203.0.113.6', payload: m });
    expect(got).toEqual([['203.0.113.6', m]]);
  });
});

describe('FlowStateTransport options', () => {
  const base = { hostId: 'h', resolvePeer: () => undefined, onImport: () => undefined };
  const channel = { send: () => undefined, onReceive: () => undefined };

  test('a channel with bindAddress or port is a configuration error', () => {
    expect(() => new FlowStateTransport({ ...base, channel, port: 6677 })).toThrow(TypeError);
    expect(() => new FlowStateTransport({ ...base, channel, bindAddress: '127.0.0.1' })).toThrow(TypeError);
  });

  test('over a channel there is no socket address; started, it runs until stopped', async () => {
    const t = new FlowStateTransport({ ...base, channel });
    expect(() => t.address()).toThrow(FlowStateTransportHasNoSocket);
    expect(t.running).toBe(false);
    await t.start();
    expect(t.running).toBe(true);
    await t.stop();
    expect(t.running).toBe(false);
  });
});
