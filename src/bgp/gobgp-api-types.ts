// The subset of GoBGP's API messages (api/gobgp.proto, attribute.proto, package apipb) that the BGP
// role uses, as proto-loader hands them over: field names as in the .proto (keepCase), enums as
// their names, 64-bit integers as numbers, google.protobuf.Any as {'@type', ...fields}. DESIGN: BGP.

export type ApiAfi = 'AFI_IP' | 'AFI_IP6' | 'AFI_UNKNOWN' | (string & {});
export type ApiSafi = 'SAFI_UNICAST' | 'SAFI_UNKNOWN' | (string & {});

export interface ApiFamily {
  afi: ApiAfi;
  safi: ApiSafi;
}

/** A google.protobuf.Any packed by proto-loader (`json: true`). */
export interface ApiAny {
  '@type': string;
  [field: string]: unknown;
}

export const ANY_PREFIX = 'type.googleapis.com/apipb.';

export interface ApiGlobal {
  asn: number;
  router_id: string;
  listen_port: number;
  listen_addresses?: string[];
  use_multiple_paths?: boolean;
}

export interface ApiTimestamp {
  seconds: number;
  nanos: number;
}

export type ApiSessionState = 'UNKNOWN' | 'IDLE' | 'CONNECT' | 'ACTIVE' | 'OPENSENT' | 'OPENCONFIRM' | 'ESTABLISHED';
export type ApiAdminState = 'UP' | 'DOWN' | 'PFX_CT';

export interface ApiPrefixLimit {
  family: ApiFamily;
  max_prefixes: number;
  shutdown_threshold_pct: number;
}

export interface ApiAfiSafi {
  config?: { family: ApiFamily; enabled: boolean } | null;
  state?: { family: ApiFamily | null; enabled: boolean; received: number; accepted: number; advertised: number } | null;
  prefix_limits?: ApiPrefixLimit | null;
}

export interface ApiPeer {
  conf?: {
    neighbor_address: string;
    peer_asn: number;
    local_asn?: number;
    type?: 'INTERNAL' | 'EXTERNAL';
    auth_password?: string;
    description?: string;
  } | null;
  state?: {
    neighbor_address: string;
    peer_asn: number;
    session_state: ApiSessionState;
    admin_state: ApiAdminState;
    router_id?: string;
    flops?: number;
  } | null;
  timers?: {
    config?: { connect_retry?: number; hold_time?: number; keepalive_interval?: number; idle_hold_time_after_reset?: number } | null;
    state?: { uptime?: ApiTimestamp | null; downtime?: ApiTimestamp | null; negotiated_hold_time?: number } | null;
  } | null;
  transport?: { local_address?: string; passive_mode?: boolean; remote_port?: number } | null;
  ebgp_multihop?: { enabled: boolean; multihop_ttl: number } | null;
  afi_safis?: ApiAfiSafi[];
}

export interface ApiPath {
  nlri: ApiAny | null;
  pattrs: ApiAny[];
  family: ApiFamily | null;
  is_withdraw?: boolean;
  best?: boolean;
  neighbor_ip?: string;
  source_asn?: number;
  is_from_external?: boolean;
  uuid?: Buffer;
}

export interface ApiDestination {
  prefix: string;
  paths: ApiPath[];
}

export type ApiTableType = 'GLOBAL' | 'LOCAL' | 'ADJ_IN' | 'ADJ_OUT' | 'VRF';

export interface ApiTableCounts {
  num_destination: number;
  num_path: number;
  num_accepted: number;
}

export type ApiWatchFilterType = 'BEST' | 'ADJIN' | 'POST_POLICY';

export interface ApiWatchEventRequest {
  peer?: Record<string, never>;
  table?: { filters: { type: ApiWatchFilterType; init: boolean }[] };
}

export type ApiPeerEventType = 'UNKNOWN' | 'INIT' | 'END_OF_INIT' | 'STATE';

export interface ApiWatchEventResponse {
  event?: 'peer' | 'table';
  peer?: { type: ApiPeerEventType; peer: ApiPeer | null } | null;
  table?: { paths: ApiPath[] } | null;
}
