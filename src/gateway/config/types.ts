// The loaded agent configuration: what config/tollgate.schema.json describes, with defaults applied
// (DESIGN: Interfaces for people). Field names match the schema; test/unit/config checks that they agree.

export type TunnelType = 'vxlan' | 'gre';
export type AddressFamily = 'ipv4' | 'ipv6';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type MaxPrefixAction = 'restart' | 'drop' | 'warn';

export interface HostConfig {
  readonly id: string;
  /** Where other hosts tunnel to. */
  readonly tunnelIp: string;
}

export interface ZookeeperConfig {
  /** host:port each; IPv6 as [addr]:port. */
  readonly servers: readonly string[];
  readonly root: string;
  readonly sessionTimeoutMs: number;
}

export interface TunnelConfig {
  readonly type: TunnelType;
  readonly port: number;
  /** Defaults to host.tunnelIp. */
  readonly bindAddress: string;
}

export interface FlowStateConfig {
  readonly push: boolean;
  /** The cluster key, also when it came from clusterKeyFile. */
  readonly clusterKey?: string;
  /** Absolute path of the key file when one was given (relative paths are taken from the config's folder). */
  readonly clusterKeyFile?: string;
  readonly stateDir: string;
}

export interface BindingConfig {
  /** Virtual port id. */
  readonly port: string;
  readonly interface: string;
  readonly netns?: string;
}

export interface ApiConfig {
  /** address:port; IPv6 as [addr]:port. */
  readonly listen: string;
  readonly token?: string;
}

export interface GobgpdConfig {
  readonly binary: string;
  readonly protoDir: string;
  /** gobgpd's gRPC API (a unix socket: gobgpd runs in its own network namespace). */
  readonly socket: string;
}

export interface BgpConfig {
  readonly asn: number;
  readonly routerId: string;
  /** -1 = do not listen. */
  readonly listenPort: number;
  /** Network namespace gobgpd runs in, with a veth per uplink (default tollgate-bgp-<host.id>). */
  readonly namespace: string;
  readonly gobgpd: GobgpdConfig;
}

export interface UplinkPortConfig {
  readonly id: string;
  /** CIDRs; a single string in YAML is loaded as a one-element list. */
  readonly address: readonly string[];
  readonly mac: string;
}

export interface MaxPrefixesConfig {
  readonly limit: number;
  readonly action: MaxPrefixAction;
}

export interface BgpPeerConfig {
  readonly address: string;
  readonly asn: number;
  readonly password?: string;
  /** Seconds; 0 = no keepalives. */
  readonly holdTime: number;
  /** Seconds; defaults to floor(holdTime / 3). */
  readonly keepalive: number;
  readonly multihop?: number;
  /** Defaults to the family of the peer address. */
  readonly families: readonly AddressFamily[];
  readonly maxPrefixes?: MaxPrefixesConfig;
}

export interface UplinkConfig {
  readonly name: string;
  readonly interface: string;
  readonly netns?: string;
  /** Provider router id. */
  readonly router: string;
  readonly port: UplinkPortConfig;
  /** Stateful port group id. */
  readonly ingressSet?: string;
  readonly advertise: readonly string[];
  readonly peers: readonly BgpPeerConfig[];
}

export interface LoggingConfig {
  readonly level: LogLevel;
}

export interface WatchdogConfig {
  readonly enabled: boolean;
  readonly stallMs: number;
}

export interface TollgateConfig {
  readonly host: HostConfig;
  readonly zookeeper: ZookeeperConfig;
  readonly tunnel: TunnelConfig;
  readonly flowState: FlowStateConfig;
  readonly bindings: readonly BindingConfig[];
  readonly api: ApiConfig;
  /** Present only when configured (gateway role). */
  readonly bgp?: BgpConfig;
  readonly uplinks: readonly UplinkConfig[];
  readonly logging: LoggingConfig;
  readonly watchdog: WatchdogConfig;
}
