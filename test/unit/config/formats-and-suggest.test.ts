// The address formats the schema names and the typo suggestions for unknown fields.
import { isLoopback, parseHostPort } from '../../../src/gateway/config/index.js';
import { CONFIG_FORMATS } from '../../../src/gateway/config/formats.js';
import { suggestField } from '../../../src/gateway/config/suggest.js';

describe('config formats', () => {
  it.each<[string, string, boolean]>([
    ['host-port', '127.0.0.1:2181', true],
    ['host-port', 'zk-1.example.test:2181', true],
    ['host-port', '[2001:db8::1]:2181', true],
    ['host-port', '2001:db8::1:2181', false],
    ['host-port', '[192.0.2.1]:2181', false],
    ['host-port', '999.0.0.1:2181', false],
    ['host-port', 'zk:0', false],
    ['host-port', 'zk:65536', false],
    ['host-port', 'zk', false],
    ['listen-address', '0.0.0.0:8181', true],
    ['listen-address', '[::]:8181', true],
    ['listen-address', 'localhost:8181', true],
    ['listen-address', 'api.example.test:8181', false],
    ['host-ip-address', '192.0.2.1', true],
    ['host-ip-address', '2001:db8::1', true],
    ['host-ip-address', '0.0.0.0', false],
    ['host-ip-address', '::', false],
    ['host-ip-address', 'ff02::1', false],
    ['host-ip-address', '239.1.1.1', false],
    ['ipv4-address', '192.0.2.1', true],
    ['ipv4-address', '192.0.2', false],
    ['cidr', '2001:db8::/32', true],
    ['cidr', '192.0.2.0/33', false],
    ['cidr', '192.0.2.0', false],
    ['unicast-mac-address', '02:00:00:00:01:01', true],
    ['unicast-mac-address', '03:00:00:00:01:01', false],
    ['unicast-mac-address', '00:00:00:00:00:00', false],
    ['unicast-mac-address', '02-00-00-00-01-01', false],
  ])('%s %s -> %s', (format, text, ok) => {
    expect(CONFIG_FORMATS[format](text)).toBe(ok);
  });

  it('parseHostPort splits host and port, IPv6 without its brackets', () => {
    expect(parseHostPort('[2001:db8::1]:8181')).toEqual({ host: '2001:db8::1', port: 8181 });
    expect(parseHostPort('127.0.0.1:8181')).toEqual({ host: '127.0.0.1', port: 8181 });
    expect(parseHostPort('127.0.0.1')).toBeUndefined();
  });

  it('isLoopback knows 127/8, ::1 and localhost', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '192.0.2.1', '128.0.0.1'].map(isLoopback)).toEqual([false, false, false, false]);
  });
});

describe('suggestField', () => {
  const known = ['host', 'zookeeper', 'tunnel', 'tunnelIp', 'holdTime', 'keepalive', 'asn', 'id'];
  it.each<[string, string | undefined]>([
    ['tunelIp', 'tunnelIp'],
    ['tunnelIP', 'tunnelIp'],
    ['hold_time', 'holdTime'],
    ['keepAlive', 'keepalive'],
    ['zookeper', 'zookeeper'],
    ['hsot', 'host'],
    ['as', 'asn'],
    ['ID', 'id'],
    ['frobnicate', undefined],
    ['ip', undefined],
  ])('%s -> %s', (typo, expected) => {
    expect(suggestField(typo, known)).toBe(expected);
  });
});
