// The BGP gateway role: gobgpd supervision, its gRPC client, peers from the uplinks, route import
// into the store and export of the provider router's prefixes. DESIGN: BGP; Gateway roles.
export * from './errors.js';
export * from './config.js';
export { BgpRole, type BgpRoleOptions, type BgpStatus, type BgpPeerStatus } from './bgp-role.js';
export { GobgpdSupervisor, DEFAULT_GOBGPD_BINARY, type GobgpdSupervisorOptions, type GobgpdApiEndpoint, type GobgpdState, type GobgpdExit } from './gobgpd-supervisor.js';
export { GobgpClient, DEFAULT_GOBGP_PROTO_DIR, loadGobgpProtos, type GobgpClientOptions, type GobgpWatchEvent, type Watch, type WatchHandlers } from './gobgp-client.js';
export { decodeTableEvent, WireDecodeError, type DecodedTableEvent } from './watch-event-codec.js';
export { API_FAMILY, advertisedPath, parseAdvertisedPrefix, readWatchedPath, type AdvertisedPrefix, type WatchedPath } from './api-paths.js';
export { peerToApi, globalToApi, peerStatusFromApi, type PeerSessionStatus, type PeerSessionState, type PeerAdminState } from './api-peers.js';
export { planPeers, type PeerPlan } from './peer-plan.js';
export { PeerReconciler } from './peer-reconciler.js';
export { RouteImporter, type LearnedRoutesSink, type RouteImporterOptions } from './route-importer.js';
export { RouteExporter } from './route-exporter.js';
export { advertisedPrefixes, type AdvertisedPrefixes, type SkippedPrefix } from './advertised-prefixes.js';
export { LearnedRouteTable, type ImportPeer, type ImportDelta } from './learned-route-table.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export type * from './gobgp-api-types.js';
