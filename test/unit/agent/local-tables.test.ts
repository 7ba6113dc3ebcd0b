// This host's state tables: what they answer the simulator, which flows they make stale, expiry.
import { LocalTables } from '../../../src/agent-core/agent/index.js';
import { arpTag, macTag } from '../../../src/agent-core/simulation/index.js';

describe('LocalTables', () => {
  it('answers null for an unknown MAC and the port once learned', () => {
    const t = new LocalTables();
    expect(t.lookup('b1', 0x1000, 0x0a0000000001)).toBeNull();
    t.apply([{ kind: 'macLearned', bridgeId: 'b1', vlanId: 0x1000, mac: 0x0a0000000001, portId: 'p1' }], 0);
    expect(t.lookup('b1', 0x1000, 0x0a0000000001)).toBe('p1');
  });

  it('a new or moved MAC makes its flows stale; relearning the same port does not', () => {
    const t = new LocalTables();
    const learn = (portId: string) => t.apply([{ kind: 'macLearned', bridgeId: 'b1', vlanId: 5, mac: 7, portId }], 0);
    expect(learn('p1')).toEqual([macTag('b1', 5, 7)]);
    expect(learn('p1')).toEqual([]);
    expect(learn('p2')).toEqual([macTag('b1', 5, 7)]);
  });

  it('a changed ARP entry makes its flows stale', () => {
    const t = new LocalTables();
    expect(t.apply([{ kind: 'arpLearned', routerId: 'r1', ip: 42, mac: 1 }], 0)).toEqual([arpTag('r1', 42)]);
    expect(t.apply([{ kind: 'arpLearned', routerId: 'r1', ip: 42, mac: 1 }], 0)).toEqual([]);
    expect(t.lookup('r1', 42)).toBe(1);
  });

  it('conntrack and NAT keys idle out, with their tags, and refresh when re-applied', () => {
    const t = new LocalTables(1000);
    t.apply([{ kind: 'conntrack', key: 'k1' }, { kind: 'nat', key: 'n1', binding: { ip: 9, port: 2000 }, deviceId: 'r1' }], 0);
    t.apply([{ kind: 'conntrack', key: 'k1' }], 800);
    expect(t.expire(1000).sort()).toEqual(['nat:n1']);
    expect(t.has('k1')).toBe(true);
    expect(t.get('n1')).toBeUndefined();
    expect(t.expire(1800)).toEqual(['ct:k1']);
    expect(t.has('k1')).toBe(false);
  });

  it('picks a free SNAT port from the hash, skips used ones, frees them on expiry', () => {
    const t = new LocalTables(1000);
    const first = t.pickPort('r1', 9, 1000, 1002, 4)!;
    expect(first).toBe(1001); // 4 % 3 = 1
    t.apply([{ kind: 'nat', key: 'a', binding: { ip: 9, port: first }, deviceId: 'r1', leasedIp: 9 }], 0);
    expect(t.pickPort('r1', 9, 1000, 1002, 4)).toBe(1002);
    t.apply([{ kind: 'nat', key: 'b', binding: { ip: 9, port: 1002 }, deviceId: 'r1', leasedIp: 9 }], 0);
    t.apply([{ kind: 'nat', key: 'c', binding: { ip: 9, port: 1000 }, deviceId: 'r1', leasedIp: 9 }], 0);
    expect(t.pickPort('r1', 9, 1000, 1002, 4)).toBeUndefined();
    t.expire(1000);
    expect(t.pickPort('r1', 9, 1000, 1002, 4)).toBe(1001);
  });
});

describe('LocalTables staleness of connection state', () => {
  it('a new conntrack key or NAT binding makes flows decided without it stale; a refresh does not', () => {
    const t = new LocalTables();
    expect(t.apply([{ kind: 'conntrack', key: 'k' }], 0)).toEqual(['ct:k']);
    expect(t.apply([{ kind: 'conntrack', key: 'k' }], 1)).toEqual([]);
    const nat = (port: number) => t.apply([{ kind: 'nat', key: 'n', binding: { ip: 9, port }, deviceId: 'r1' }], 2);
    expect(nat(2000)).toEqual(['nat:n']);
    expect(nat(2000)).toEqual([]);
    expect(nat(2001)).toEqual(['nat:n']);
  });
});
