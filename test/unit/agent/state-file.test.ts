import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTables } from '../../../src/agent-core/agent/local-tables.js';
import { StateFile } from '../../../src/agent-core/agent/state-file.js';
import { parseIp } from '../../../src/agent-core/packet/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('conntrack keys and NAT bindings survive a save and load, lifetimes shortened by the downtime', async () => {
  const t = new LocalTables(60_000);
  const ip = parseIp('203.0.113.1')!;
  t.apply([
    { kind: 'conntrack', key: 'ct-1' },
    { kind: 'nat', key: 'nat-1', binding: { ip, port: 2000 }, deviceId: 'tenant', leasedIp: ip },
    { kind: 'nat', key: 'nat-6', binding: { ip: parseIp('2001:db8::1')!, port: 7 }, deviceId: 'tenant' },
  ], 1000);
  const file = new StateFile(join(dir, 'sub', 'state.json'));
  await file.save(t, 10_000, 1000);
  const back = new LocalTables(60_000);
  expect(await file.load(back, 10_000 + 20_000, 0)).toBe(3);
  expect(back.has('ct-1')).toBe(true);
  expect(back.get('nat-1')).toEqual({ ip, port: 2000 });
  expect(back.snatPortsInUse('tenant', ip)).toEqual([2000]);
  expect(back.snatPortsHeld()).toEqual([{ deviceId: 'tenant', ip, port: 2000 }]);
  // 60 s lifetime, 20 s down: gone 40 s after the restore.
  expect(back.expire(39_999)).toEqual([]);
  expect(back.expire(40_000).sort()).toEqual(['ct:ct-1', 'nat:nat-1', 'nat:nat-6']);
});

test('state older than its lifetime is not restored; a missing file is no state; a corrupt one is an error', async () => {
  const t = new LocalTables(60_000);
  t.apply([{ kind: 'conntrack', key: 'ct-1' }], 0);
  const file = new StateFile(join(dir, 'state.json'));
  await file.save(t, 0, 0);
  expect(await file.load(new LocalTables(), 61_000, 0)).toBe(0);
  expect(await new StateFile(join(dir, 'none.json')).load(new LocalTables(), 0, 0)).toBe(0);
  writeFileSync(join(dir, 'bad.json'), '{"format":"something else"}');
  await expect(new StateFile(join(dir, 'bad.json')).load(new LocalTables(), 0, 0)).rejects.toThrow('not a tollgate-flow-state/1 file');
});

test('an expired SNAT binding hands its port back', () => {
  const t = new LocalTables(1000);
  const freed: number[] = [];
  t.onNatPortFreed = (_d, _ip, port) => freed.push(port);
  const ip = parseIp('203.0.113.1')!;
  t.apply([{ kind: 'nat', key: 'n', binding: { ip, port: 1500 }, deviceId: 'tenant', leasedIp: ip }], 0);
  t.expire(1000);
  expect(freed).toEqual([1500]);
});

test('saves space out with the tables: the interval scales with the entries held now at the last save\'s cost per entry', async () => {
  const t = new LocalTables(60_000);
  const n = 20_000;
  t.apply(Array.from({ length: n }, (_, i) => ({ kind: 'conntrack' as const, key: `ct-${i}` })), 0);
  const file = new StateFile(join(dir, 'state.json'));
  expect(file.intervalMs(1000, n)).toBe(1000);
  await file.save(t, 0, 0);
  const now = file.intervalMs(0, n);
  // The save took some time: at most 1 % of the loop between saves.
  expect(now).toBeGreaterThan(0);
  // Ten times the entries, ten times the wait; never below the minimum.
  expect(file.intervalMs(0, 10 * n)).toBeCloseTo(10 * now, 6);
  expect(file.intervalMs(3_600_000, 10 * n)).toBe(3_600_000);
});
