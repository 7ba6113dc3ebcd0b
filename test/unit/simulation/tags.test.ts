// Flow tags: the interned MAC and ARP tags spell exactly what the table watchers invalidate, for any
// device, VLAN, MAC and address, however many there have been (the interning cache is bounded).
import fc from 'fast-check';
import { formatIp, formatMac } from '../../../src/agent-core/packet/addr.js';
import { arpTag, macTag } from '../../../src/agent-core/simulation/tags.js';

const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const ip4 = fc.integer({ min: 0, max: 0xffffffff });
const ip6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

test('macTag and arpTag spell the entry, the same on every call', () => {
  fc.assert(
    fc.property(fc.constantFrom('br-a', 'br-b'), fc.integer({ min: 0, max: 4096 }), mac, fc.constantFrom('r1', 'r2'), fc.oneof(ip4, ip6), (b, vlan, m, r, ip) => {
      for (let i = 0; i < 2; i++) {
        expect(macTag(b, vlan, m)).toBe(`mac:${b}:${vlan}:${formatMac(m)}`);
        expect(arpTag(r, ip)).toBe(`arp:${r}:${formatIp(ip)}`);
      }
    }),
    { numRuns: 500 },
  );
});

test('past the interning bound, the tags stay right', () => {
  for (let i = 0; i < 70_000; i++) macTag('br-x', 1, i);
  expect(macTag('br-x', 1, 5)).toBe(`mac:br-x:1:${formatMac(5)}`);
  expect(macTag('br-x', 1, 69_999)).toBe(`mac:br-x:1:${formatMac(69_999)}`);
  expect(arpTag('r9', 0xc0000201)).toBe('arp:r9:192.0.2.1');
});
