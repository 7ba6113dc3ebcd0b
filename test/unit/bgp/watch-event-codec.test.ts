// The wire decoder of watch table events (src/bgp/watch-event-codec.ts) against proto-loader's
// generic decoding of the same bytes (the reference: readWatchedPath over the decoded object),
// for chosen and random paths, and on corrupted input.
import { existsSync } from 'node:fs';
import type { MethodDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { DEFAULT_GOBGP_PROTO_DIR, loadGobgpProtos, readWatchedPath, type ApiPath, type ApiWatchEventRequest, type ApiWatchEventResponse } from '../../../src/bgp/index.js';
import { decodeTableEvent, WireDecodeError } from '../../../src/bgp/watch-event-codec.js';

const T = 'type.googleapis.com/apipb.';
const haveProtos = existsSync(`${DEFAULT_GOBGP_PROTO_DIR}/gobgp.proto`);
if (!haveProtos) console.warn('watch event codec tests skipped: golang-github-osrg-gobgp-dev is not installed');
const describeProtos = haveProtos ? describe : describe.skip;

describeProtos('watch event wire decoder', () => {
  let method: MethodDefinition<ApiWatchEventRequest, ApiWatchEventResponse>;
  beforeAll(() => {
    method = (loadGobgpProtos()['apipb.GobgpApi'] as Record<string, MethodDefinition<ApiWatchEventRequest, ApiWatchEventResponse>>).WatchEvent!;
  });
  const encode = (paths: unknown[]): Buffer => method.responseSerialize({ table: { paths } } as unknown as ApiWatchEventResponse);
  const reference = (buf: Buffer): ReturnType<typeof readWatchedPath>[] => (method.responseDeserialize(buf).table?.paths ?? []).map((p) => readWatchedPath(p));

  const v4 = (prefix: string, len: number, extra: Partial<ApiPath> = {}): Record<string, unknown> => ({
    family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
    nlri: { '@type': `${T}IPAddressPrefix`, prefix, prefix_len: len },
    pattrs: [
      { '@type': `${T}OriginAttribute`, origin: 0 },
      { '@type': `${T}AsPathAttribute`, segments: [{ type: 2, numbers: [65001, 4200000000] }] },
      { '@type': `${T}NextHopAttribute`, next_hop: '192.0.2.2' },
      { '@type': `${T}CommunitiesAttribute`, communities: [65001] },
    ],
    age: { seconds: 1796533519, nanos: 5 },
    best: true,
    source_asn: 65001,
    neighbor_ip: '192.0.2.2',
    uuid: Buffer.from([1, 2, 3]),
    ...extra,
  });

  test('chosen paths decode as proto-loader decodes them', () => {
    const paths = [
      v4('198.51.100.0', 25),
      v4('0.0.0.0', 0), // prefix_len 0 is not on the wire at all
      v4('198.51.100.128', 25, { is_withdraw: true }),
      v4('203.0.113.0', 24, { neighbor_ip: '<nil>' }),
      v4('203.0.113.0', 24, { neighbor_ip: '' }),
      {
        family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
        nlri: { '@type': `${T}IPAddressPrefix`, prefix: '2001:db8:100::', prefix_len: 48 },
        pattrs: [{ '@type': `${T}MpReachNLRIAttribute`, family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' }, next_hops: ['fe80::1', '2001:db8:5::2'], nlris: [] }],
        neighbor_ip: '2001:db8:5::2',
      },
      {
        family: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
        nlri: { '@type': `${T}IPAddressPrefix`, prefix: '2001:db8:200::', prefix_len: 48 },
        pattrs: [{ '@type': `${T}MpReachNLRIAttribute`, next_hops: ['fe80::2'] }],
        neighbor_ip: 'fe80::2',
      },
      v4('10.0.0.0', 8, { family: { afi: 'AFI_IP', safi: 'SAFI_MPLS_VPN' } }),
      v4('10.0.0.0', 8, { nlri: { '@type': `${T}LabeledVPNIPAddressPrefix`, labels: [1], rd: null, prefix_len: 8, prefix: '10.0.0.0' } }),
    ];
    const buf = encode(paths);
    const ours = decodeTableEvent(buf);
    const ref = reference(buf);
    expect(ours?.paths).toEqual(ref.filter((p) => p !== undefined));
    expect(ours?.skipped).toBe(ref.filter((p) => p === undefined).length);
    expect(ours?.paths[1]?.prefix).toBe('0.0.0.0/0');
    expect(ours?.paths.map((p) => p.nextHop)).toEqual(['192.0.2.2', '192.0.2.2', '192.0.2.2', '192.0.2.2', '192.0.2.2', '2001:db8:5::2', 'fe80::2']);
  });

  test('an empty table event (the initial event of an empty table) has no paths; peer events are not table events', () => {
    expect(decodeTableEvent(method.responseSerialize({ table: { paths: [] } } as unknown as ApiWatchEventResponse))).toEqual({ paths: [], skipped: 0 });
    const peer = method.responseSerialize({ peer: { type: 'STATE', peer: { conf: { neighbor_address: '192.0.2.2', peer_asn: 65001 } } } } as unknown as ApiWatchEventResponse);
    expect(decodeTableEvent(peer)).toBeUndefined();
  });

  const pathArb = fc.record({
    v6: fc.boolean(),
    addr: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
    len: fc.integer({ min: 0, max: 32 }),
    withdraw: fc.boolean(),
    safi: fc.constantFrom('SAFI_UNICAST', 'SAFI_MULTICAST'),
    peer: fc.constantFrom('192.0.2.2', '2001:db8::2', '', '<nil>'),
    hops: fc.array(fc.constantFrom('192.0.2.9', 'fe80::9', '2001:db8::9', ''), { maxLength: 3 }),
  });

  test('random paths decode as proto-loader decodes them', () => {
    fc.assert(
      fc.property(fc.array(pathArb, { maxLength: 20 }), (specs) => {
        const paths = specs.map((s) => {
          const family = { afi: s.v6 ? 'AFI_IP6' : 'AFI_IP', safi: s.safi };
          const prefix = s.v6 ? `2001:db8:${s.addr[0]!.toString(16)}::` : s.addr.join('.');
          const nh = s.v6
            ? { '@type': `${T}MpReachNLRIAttribute`, family, next_hops: s.hops }
            : { '@type': `${T}NextHopAttribute`, next_hop: s.hops[0] ?? '' };
          return { family, nlri: { '@type': `${T}IPAddressPrefix`, prefix, prefix_len: s.len }, pattrs: [{ '@type': `${T}OriginAttribute`, origin: 2 }, nh], is_withdraw: s.withdraw, neighbor_ip: s.peer };
        });
        const buf = encode(paths);
        const ref = reference(buf);
        const ours = decodeTableEvent(buf);
        // proto-loader gives '' for an absent next hop; the wire decoder gives undefined or ''.
        const norm = (p: ReturnType<typeof readWatchedPath>) => (p === undefined ? p : { ...p, nextHop: p.nextHop === '' ? undefined : p.nextHop });
        expect(ours?.paths.map(norm)).toEqual(ref.filter((p) => p !== undefined).map(norm));
        expect(ours?.skipped).toBe(ref.filter((p) => p === undefined).length);
      }),
      { numRuns: 200 },
    );
  });

  test('truncated or corrupted bytes fail with WireDecodeError, nothing else', () => {
    const buf = encode([v4('198.51.100.0', 25), v4('198.51.100.128', 25)]);
    let failures = 0;
    for (let cut = 1; cut < buf.length; cut++) {
      try {
        decodeTableEvent(buf.subarray(0, cut));
      } catch (err) {
        expect(err).toBeInstanceOf(WireDecodeError);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.nat(buf.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const bad = Buffer.from(buf);
        bad[at] = byte;
        try {
          decodeTableEvent(bad);
        } catch (err) {
          return err instanceof WireDecodeError;
        }
        return true;
      }),
      { numRuns: 500 },
    );
    expect(() => decodeTableEvent(Buffer.from([0x1a, 0x05, 0x12, 0x7f]))).toThrow(WireDecodeError);
    expect(() => decodeTableEvent(Buffer.from([0x1b]))).toThrow(/unsupported wire type/);
  });
});
