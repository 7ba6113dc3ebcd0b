// Each bad config gives exactly the expected problem, at the right FILE:LINE:COL and field.
import { BASE, problemsOf, yamlLines } from './helpers.js';

const UPLINK = [
  'bgp: { asn: 64512, routerId: 192.0.2.1 }', // line 6
  'uplinks:', // 7
  '  - name: a', // 8
  '    interface: eth1', // 9
  '    router: r', // 10
  '    port: { id: pa, address: 192.0.2.2/28, mac: "02:00:00:00:00:01" }', // 11
  '    peers:', // 12
];

describe('config problems: structure (JSON schema)', () => {
  it.each<[string, string, string]>([
    ['a typo in a field name, with the suggestion', 'host:\n  id: gw1\n  tunelIp: 192.0.2.1\nzookeeper: { servers: ["127.0.0.1:2181"] }\n',
      "test.yaml:3:3: host.tunelIp: unknown field 'tunelIp' (did you mean 'tunnelIp'?)"],
    ['snake_case for camelCase', yamlLines(...BASE, '  session_timeout_ms: 5000'),
      "test.yaml:6:3: zookeeper.session_timeout_ms: unknown field 'session_timeout_ms' (did you mean 'sessionTimeoutMs'?)"],
    ['an unknown top-level section with no close match', yamlLines(...BASE, 'frobnicate: 1'),
      "test.yaml:6:1: frobnicate: unknown field 'frobnicate' (known fields: host, zookeeper, tunnel, flowState, bindings, api, bgp, uplinks, logging, watchdog)"],
    ['a missing required field, at its section', 'host:\n  id: gw1\nzookeeper: { servers: ["127.0.0.1:2181"] }\n',
      'test.yaml:1:1: host.tunnelIp: required field is missing'],
    ['a missing required section, at the top', 'host: { id: gw1, tunnelIp: 192.0.2.1 }\n', 'test.yaml:1:1: zookeeper: required field is missing'],
    ['an empty value', 'host:\n  id:\n  tunnelIp: 192.0.2.1\nzookeeper: { servers: ["127.0.0.1:2181"] }\n',
      'test.yaml:2:3: host.id: must be a string (got nothing)'],
    ['a bad host id', yamlLines('host:', '  id: gw/1', '  tunnelIp: 192.0.2.1', 'zookeeper: { servers: ["127.0.0.1:2181"] }'),
      'test.yaml:2:7: host.id: must be 1 to 64 of the characters A-Z a-z 0-9 . _ - (got "gw/1")'],
    ['a multicast tunnel IP', yamlLines('host:', '  id: gw1', '  tunnelIp: 224.0.0.1', 'zookeeper: { servers: ["127.0.0.1:2181"] }'),
      'test.yaml:3:13: host.tunnelIp: must be a unicast IPv4 or IPv6 address (got "224.0.0.1")'],
    ['an unbracketed IPv6 ZooKeeper server', yamlLines(...BASE.slice(0, 4), '  servers: ["2001:db8::1:2181"]'),
      'test.yaml:5:13: zookeeper.servers[0]: must be host:port, with an IPv6 address as [addr]:port (got "2001:db8::1:2181")'],
    ['a duplicate ZooKeeper server', yamlLines(...BASE.slice(0, 4), '  servers:', '    - 127.0.0.1:2181', '    - 127.0.0.1:2181'),
      'test.yaml:7:7: zookeeper.servers[1]: "127.0.0.1:2181" is listed twice (also item 0)'],
    ['a session timeout out of range', yamlLines(...BASE, '  sessionTimeoutMs: 500'),
      'test.yaml:6:21: zookeeper.sessionTimeoutMs: must be between 2000 and 120000 (got 500)'],
    ['a string where a number goes', yamlLines(...BASE, 'tunnel:', '  port: "6677"'), 'test.yaml:7:9: tunnel.port: must be a whole number (got "6677")'],
    ['an unknown tunnel type', yamlLines(...BASE, 'tunnel:', '  type: geneve'), 'test.yaml:7:9: tunnel.type: must be one of vxlan, gre (got "geneve")'],
    ['a short cluster key', yamlLines(...BASE, 'flowState:', '  clusterKey: abc'), 'test.yaml:7:15: flowState.clusterKey: must be at least 16 characters long'],
    ['a relative state dir', yamlLines(...BASE, 'flowState:', '  stateDir: var/lib'), 'test.yaml:7:13: flowState.stateDir: must be an absolute path (got "var/lib")'],
    ['an interface name of 16 characters', yamlLines(...BASE, 'bindings:', '  - port: p1', '    interface: veth-0123456789a'),
      'test.yaml:8:16: bindings[0].interface: must be a Linux interface name: 1 to 15 characters, no \'/\', \':\' or whitespace (got "veth-0123456789a")'],
    ['a binding without its port', yamlLines(...BASE, 'bindings:', '  - interface: veth1'), 'test.yaml:7:5: bindings[0].port: required field is missing'],
    ['a bad log level', yamlLines(...BASE, 'logging: { level: verbose }'),
      'test.yaml:6:19: logging.level: must be one of trace, debug, info, warn, error, fatal (got "verbose")'],
    ['listenPort 0', yamlLines(...BASE, 'bgp:', '  asn: 64512', '  routerId: 192.0.2.1', '  listenPort: 0'),
      'test.yaml:9:15: bgp.listenPort: must be -1 (do not listen) or a port 1..65535 (got 0)'],
    ['an IPv6 router id', yamlLines(...BASE, 'bgp:', '  asn: 64512', '  routerId: "2001:db8::1"'), 'test.yaml:8:13: bgp.routerId: must be an IPv4 address (got "2001:db8::1")'],
    ['hold time 2', yamlLines(...UPLINK_BASE(), '      - { address: 192.0.2.1, asn: 65001, holdTime: 2, keepalive: 1 }'),
      'test.yaml:13:53: uplinks[0].peers[0].holdTime: must be 0 or 3..65535 seconds (RFC 4271) (got 2)'],
    ['a multicast MAC', yamlLines(...BASE, ...UPLINK.slice(1, 5), '    port: { id: pa, address: 192.0.2.2/28, mac: "01:00:5e:00:00:01" }'),
      'test.yaml:10:49: uplinks[0].port.mac: must be a unicast MAC address such as 02:00:00:00:01:01 (got "01:00:5e:00:00:01")'],
    ['a port address without prefix length', yamlLines(...BASE, ...UPLINK.slice(1, 5), '    port: { id: pa, address: [192.0.2.2], mac: "02:00:00:00:00:01" }'),
      'test.yaml:10:31: uplinks[0].port.address[0]: must be an address with prefix length, such as 192.0.2.2/28 (got "192.0.2.2")'],
    ['an unknown family', yamlLines(...UPLINK_BASE(), '      - { address: 192.0.2.1, asn: 65001, families: [ipv4, l2vpn] }'),
      'test.yaml:13:60: uplinks[0].peers[0].families[1]: must be one of ipv4, ipv6 (got "l2vpn")'],
    ['a password over 80 characters', yamlLines(...UPLINK_BASE(), `      - { address: 192.0.2.1, asn: 65001, password: ${'x'.repeat(81)} }`),
      'test.yaml:13:53: uplinks[0].peers[0].password: must be at most 80 characters long'],
    ['a top level that is not a mapping', '- host\n', 'test.yaml:1:1: (top level): must be a mapping of fields (got a list)'],
  ])('%s', (_name, yaml, expected) => {
    expect(problemsOf(yaml)).toEqual([expected]);
  });
});

function UPLINK_BASE(): string[] {
  return [...BASE, ...UPLINK];
}

describe('config problems: rules beyond the schema', () => {
  it.each<[string, string, string]>([
    ['duplicate uplink names', yamlLines(...BASE, 'uplinks:',
      '  - { name: a, interface: eth1, router: r, port: { id: pa, address: 192.0.2.2/28, mac: "02:00:00:00:00:01" } }',
      '  - { name: a, interface: eth2, router: r, port: { id: pb, address: 192.0.2.18/28, mac: "02:00:00:00:00:02" } }'),
      "test.yaml:8:13: uplinks[1].name: duplicate uplink name 'a' (also uplinks[0])"],
    ['a port bound twice', yamlLines(...BASE, 'bindings:', '  - { port: p1, interface: veth1 }', '  - { port: p1, interface: veth2 }'),
      "test.yaml:8:13: bindings[1].port: port 'p1' is already used by bindings[0]"],
    ['an interface used twice', yamlLines(...BASE, 'bindings:', '  - { port: p1, interface: veth1 }', '  - { port: p2, interface: veth1 }'),
      "test.yaml:8:28: bindings[1].interface: interface 'veth1' is already used by bindings[0]"],
    ['an uplink on a bound interface', yamlLines(...BASE, 'bindings: [{ port: p1, interface: eth1 }]', ...UPLINK.slice(1, 6)),
      "test.yaml:9:16: uplinks[0].interface: interface 'eth1' is already used by bindings[0]"],
    ['an uplink port that is also bound', yamlLines(...BASE, 'bindings: [{ port: pa, interface: veth1 }]', ...UPLINK.slice(1, 6)),
      "test.yaml:11:17: uplinks[0].port.id: port 'pa' is already used by bindings[0]"],
    ['a duplicate peer address (written differently)', yamlLines(...BASE, ...UPLINK.slice(0, 5),
      '    port: { id: pa, address: "2001:db8::2/64", mac: "02:00:00:00:00:01" }', '    peers:',
      '      - { address: "2001:db8::1", asn: 65001 }', '      - { address: "2001:DB8:0::1", asn: 65002 }'),
      'test.yaml:14:20: uplinks[0].peers[1].address: peer 2001:DB8:0::1 is already configured at uplinks[0].peers[0]'],
    ['a peer family missing from families', yamlLines(...UPLINK_BASE(), '      - { address: 192.0.2.1, asn: 65001, families: [ipv6] }'),
      'test.yaml:13:53: uplinks[0].peers[0].families: must include ipv4, the family of the peer address 192.0.2.1'],
    ['keepalive equal to holdTime', yamlLines(...UPLINK_BASE(), '      - address: 192.0.2.1', '        asn: 65001', '        holdTime: 9', '        keepalive: 9'),
      'test.yaml:16:20: uplinks[0].peers[0].keepalive: must be less than holdTime (9) (got 9)'],
    ['keepalive with holdTime 0', yamlLines(...UPLINK_BASE(), '      - { address: 192.0.2.1, asn: 65001, holdTime: 0, keepalive: 3 }'),
      'test.yaml:13:67: uplinks[0].peers[0].keepalive: must be 0 when holdTime is 0 (no keepalives) (got 3)'],
    ['a peer off the uplink subnets without multihop', yamlLines(...UPLINK_BASE(), '      - { address: 198.51.100.1, asn: 65001 }'),
      "test.yaml:13:20: uplinks[0].peers[0].address: peer 198.51.100.1 is not on the uplink port's subnets (uplinks[0].port.address: 192.0.2.2/28); set multihop for a peer that is not directly connected"],
    ['a peer at the uplink port\'s own address', yamlLines(...UPLINK_BASE(), '      - { address: 192.0.2.2, asn: 65001 }'),
      "test.yaml:13:20: uplinks[0].peers[0].address: 192.0.2.2 is the uplink port's own address (uplinks[0].port.address)"],
    ['BGP peers without a bgp section', yamlLines(...BASE, ...UPLINK.slice(1), '      - { address: 192.0.2.1, asn: 65001 }'),
      'test.yaml:11:5: bgp: section required because uplinks[0] has BGP peers (give asn and routerId)'],
    ['clusterKey and clusterKeyFile together', yamlLines(...BASE, 'flowState:', '  clusterKey: 0123456789abcdef0', '  clusterKeyFile: /etc/k'),
      'test.yaml:8:3: flowState.clusterKeyFile: clusterKey and clusterKeyFile exclude each other: give one'],
    ['an API off loopback without a token', yamlLines(...BASE, 'api:', '  listen: 0.0.0.0:8181'),
      'test.yaml:6:1: api.token: required when api.listen (0.0.0.0:8181) is not a loopback address'],
    ['an advertised prefix with host bits', yamlLines(...BASE, ...UPLINK.slice(1, 6), '    advertise: [203.0.113.7/24]'),
      'test.yaml:11:17: uplinks[0].advertise[0]: prefix 203.0.113.7/24 has host bits set (did you mean 203.0.113.0/24?)'],
    ['an IPv4 bind address for an IPv6 tunnel IP', yamlLines('host: { id: gw1, tunnelIp: "2001:db8::1" }', 'zookeeper: { servers: ["127.0.0.1:2181"] }', 'tunnel:', '  bindAddress: 0.0.0.0'),
      'test.yaml:4:16: tunnel.bindAddress: is ipv4 but host.tunnelIp (2001:db8::1) is ipv6: the tunnel socket could not receive from it'],
  ])('%s', (_name, yaml, expected) => {
    expect(problemsOf(yaml)).toEqual([expected]);
  });

  it('reports a duplicate made with a YAML alias at the alias', () => {
    expect(problemsOf(yamlLines(...BASE, 'bindings:', '  - &vm1 { port: p1, interface: veth1 }', '  - *vm1'))).toEqual([
      "test.yaml:8:5: bindings[1].interface: interface 'veth1' is already used by bindings[0]",
      "test.yaml:8:5: bindings[1].port: port 'p1' is already used by bindings[0]",
    ]);
  });

  it('accepts what the rules allow: multihop peers off-subnet, IPv6 on an IPv4 session, loopback API, one interface in two namespaces', () => {
    expect(problemsOf(yamlLines(...UPLINK_BASE(), '      - { address: 198.51.100.1, asn: 65001, multihop: 2, families: [ipv4, ipv6] }'))).toEqual([]);
    expect(problemsOf(yamlLines(...BASE, 'api: { listen: "[::1]:8181" }'))).toEqual([]);
    expect(problemsOf(yamlLines(...BASE, 'api: { listen: "localhost:8181" }'))).toEqual([]);
    expect(problemsOf(yamlLines(...BASE, 'bindings:', '  - { port: p1, interface: eth0, netns: a }', '  - { port: p2, interface: eth0, netns: b }'))).toEqual([]);
    expect(problemsOf(yamlLines(...BASE, 'tunnel: { port: 4789 }'))).toEqual([]);
  });
});

describe('config problems: YAML syntax', () => {
  it.each<[string, string, string[]]>([
    ['bad indentation', 'host:\n  id: gw1\n   tunnelIp: 192.0.2.1\n', [
      'test.yaml:2:7: YAML: Implicit keys need to be on a single line',
      'test.yaml:2:7: YAML: Nested mappings are not allowed in compact mappings',
    ]],
    ['an unclosed flow sequence', yamlLines(...BASE.slice(0, 4), '  servers: ["127.0.0.1:2181"', 'tunnel: {}'), [
      'test.yaml:6:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]],
    ['a duplicate key', yamlLines(...BASE, 'host: { id: x }'), ['test.yaml:6:1: YAML: Map keys must be unique']],
    ['a tab for indentation', 'host:\n\tid: gw1\n', ['test.yaml:2:1: YAML: Tabs are not allowed as indentation']],
    ['two documents', yamlLines(...BASE, '---', 'x: 1'), ['test.yaml:6:1: YAML: Source contains multiple documents; please use YAML.parseAllDocuments()']],
    ['an empty file', '# nothing here\n', ['test.yaml: the file holds no configuration']],
  ])('%s', (_name, yaml, expected) => {
    expect(problemsOf(yaml)).toEqual(expected);
  });
});

describe('config problems: all of them, in file order', () => {
  it('lists every problem of a config at once', () => {
    const yaml = yamlLines(
      'host:', //                                 1
      '  id: gw1', //                             2
      '  tunnelIP: 192.0.2.1', //                 3
      'zookeeper:', //                            4
      '  servers: []', //                         5
      'tunnel: { port: 70000 }', //               6
      'bindings:', //                             7
      '  - { port: p1, interface: veth1 }', //    8
      '  - { port: p1, interface: veth1 }', //    9
    );
    expect(problemsOf(yaml)).toEqual([
      "test.yaml:3:3: host.tunnelIP: unknown field 'tunnelIP' (did you mean 'tunnelIp'?)",
      'test.yaml:5:12: zookeeper.servers: must list at least one item',
      'test.yaml:6:17: tunnel.port: must be between 1 and 65535 (got 70000)',
      "test.yaml:9:13: bindings[1].port: port 'p1' is already used by bindings[0]",
      "test.yaml:9:28: bindings[1].interface: interface 'veth1' is already used by bindings[0]",
    ]);
  });
});
