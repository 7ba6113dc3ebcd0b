// Typed gRPC client of gobgpd: loads gobgp.proto, attribute.proto and capability.proto at run time
// from the directory Debian's golang-github-osrg-gobgp-dev installs (not vendored) and wraps the
// calls the BGP role uses; failures become named errors with gobgpd's text. DESIGN: BGP.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type ClientReadableStream, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type PackageDefinition } from '@grpc/proto-loader';
import type { WatchedPath } from './api-paths.js';
import { GobgpdStartError, gobgpError, type GobgpApiError } from './errors.js';
import type {
  ApiDestination,
  ApiFamily,
  ApiGlobal,
  ApiPath,
  ApiPeer,
  ApiTableCounts,
  ApiTableType,
  ApiPeerEventType,
  ApiWatchEventRequest,
  ApiWatchEventResponse,
} from './gobgp-api-types.js';
import { decodeTableEvent } from './watch-event-codec.js';

export const DEFAULT_GOBGP_PROTO_DIR = '/usr/share/gocode/src/github.com/osrg/gobgp/api';
const PROTO_FILES = ['gobgp.proto', 'attribute.proto', 'capability.proto'] as const;

export interface GobgpClientOptions {
  /** gRPC target: `127.0.0.1:50051` or `unix:///run/tollgate/gobgpd.sock`. */
  readonly target: string;
  readonly protoDir?: string;
  /** Deadline of unary calls and of collecting a streamed list; default 10 s. */
  readonly callTimeoutMs?: number;
}

/** A watch event: a table event's best paths already read off the wire, or a peer's state. */
export type GobgpWatchEvent =
  | { readonly kind: 'table'; readonly paths: WatchedPath[]; /** Paths of families not imported. */ readonly skipped: number }
  | { readonly kind: 'peer'; readonly type: ApiPeerEventType; readonly peer: ApiPeer | null }
  | { readonly kind: 'other' };

export interface WatchHandlers {
  onEvent(event: GobgpWatchEvent): void;
  /** The stream ended or failed (not called after cancel()). */
  onClose(error: GobgpApiError | undefined): void;
}

export interface Watch {
  cancel(): void;
}

type Callback = (err: (Error & { code?: number; details?: string }) | null, res: unknown) => void;
type UnaryMethod = (req: unknown, options: { deadline: number }, cb: Callback) => void;
type StreamMethod = (req: unknown, options?: { deadline: number }) => ClientReadableStream<unknown>;

const definitions = new Map<string, PackageDefinition>();

/** The parsed protos of `dir`, loaded once per process. */
export function loadGobgpProtos(dir: string = DEFAULT_GOBGP_PROTO_DIR): PackageDefinition {
  const known = definitions.get(dir);
  if (known !== undefined) return known;
  for (const f of PROTO_FILES) {
    if (!existsSync(join(dir, f))) throw new GobgpdStartError(`${join(dir, f)} is missing: apt-get install golang-github-osrg-gobgp-dev, or set the proto directory`);
  }
  // json: true lets proto-loader pack and unpack google.protobuf.Any as {'@type', ...} (STACK-NOTES: GoBGP).
  const def = loadSync([...PROTO_FILES], { includeDirs: [dir], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, json: true });
  definitions.set(dir, def);
  return def;
}

export class GobgpClient {
  readonly target: string;
  private readonly stub: Client & Record<string, unknown>;
  private readonly timeoutMs: number;
  private readonly watchMethod: MethodDefinition<ApiWatchEventRequest, ApiWatchEventResponse>;

  constructor(options: GobgpClientOptions) {
    this.target = options.target;
    this.timeoutMs = options.callTimeoutMs ?? 10_000;
    const def = loadGobgpProtos(options.protoDir);
    this.watchMethod = (def['apipb.GobgpApi'] as Record<string, MethodDefinition<ApiWatchEventRequest, ApiWatchEventResponse>>).WatchEvent as MethodDefinition<ApiWatchEventRequest, ApiWatchEventResponse>;
    const pkg = loadPackageDefinition(def) as unknown as { apipb: { GobgpApi: ServiceClientConstructor } };
    // The initial table of a watch arrives as one message: 100k paths are ~30 MB, past grpc's 4 MB
    // default. A 64 KB HTTP/2 window would also stall gobgpd whenever the event loop is busy (it
    // waits for each WINDOW_UPDATE); 32 MB lets it stream a table's events ahead.
    this.stub = new pkg.apipb.GobgpApi(options.target, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc-node.flow_control_window': 32 * 1024 * 1024,
    }) as Client & Record<string, unknown>;
  }

  close(): void {
    this.stub.close();
  }

  // --- global ---

  async startBgp(global: ApiGlobal): Promise<void> {
    await this.unary('StartBgp', { global });
  }

  async stopBgp(): Promise<void> {
    await this.unary('StopBgp', {});
  }

  /** The running global config; asn 0 until StartBgp. */
  async getBgp(timeoutMs?: number): Promise<ApiGlobal> {
    const res = (await this.unary('GetBgp', {}, timeoutMs)) as { global: ApiGlobal };
    return res.global;
  }

  // --- peers ---

  async addPeer(peer: ApiPeer): Promise<void> {
    await this.unary('AddPeer', { peer });
  }

  async deletePeer(address: string): Promise<void> {
    await this.unary('DeletePeer', { address });
  }

  /** Changes timers and prefix limits in place; gobgpd resets the session itself for other changes. */
  async updatePeer(peer: ApiPeer): Promise<{ needsSoftResetIn: boolean }> {
    const res = (await this.unary('UpdatePeer', { peer, do_soft_reset_in: true })) as { needs_soft_reset_in: boolean };
    return { needsSoftResetIn: res.needs_soft_reset_in };
  }

  async enablePeer(address: string): Promise<void> {
    await this.unary('EnablePeer', { address });
  }

  async listPeers(address = ''): Promise<ApiPeer[]> {
    const rows = (await this.collect('ListPeer', { address, enableAdvertised: true })) as { peer: ApiPeer }[];
    return rows.map((r) => r.peer);
  }

  // --- paths ---

  /** Adds a path to the global table; returns its uuid (for deletePath). */
  async addPath(path: ApiPath): Promise<Buffer> {
    const res = (await this.unary('AddPath', { table_type: 'GLOBAL', path })) as { uuid: Buffer };
    return res.uuid;
  }

  async deletePathByUuid(uuid: Buffer): Promise<void> {
    await this.unary('DeletePath', { table_type: 'GLOBAL', uuid });
  }

  async listPath(family: ApiFamily, tableType: ApiTableType = 'GLOBAL', name = ''): Promise<ApiDestination[]> {
    const rows = (await this.collect('ListPath', { table_type: tableType, family, name })) as { destination: ApiDestination }[];
    return rows.map((r) => r.destination);
  }

  /** Counts only: cheap even for large tables. `name` is the peer address for ADJ_IN. */
  async getTable(family: ApiFamily, tableType: ApiTableType = 'GLOBAL', name = ''): Promise<ApiTableCounts> {
    return (await this.unary('GetTable', { table_type: tableType, family, name })) as ApiTableCounts;
  }

  // --- events ---

  /** Table events are read with the wire decoder (proto-loader's Any unpacking is ~10x slower). */
  watchEvent(request: ApiWatchEventRequest, handlers: WatchHandlers): Watch {
    const m = this.watchMethod;
    const deserialize = (buf: Buffer): GobgpWatchEvent => {
      const table = decodeTableEvent(buf);
      if (table !== undefined) return { kind: 'table', paths: table.paths, skipped: table.skipped };
      const ev = m.responseDeserialize(buf);
      return ev.peer !== undefined && ev.peer !== null ? { kind: 'peer', type: ev.peer.type, peer: ev.peer.peer } : { kind: 'other' };
    };
    const stream = this.stub.makeServerStreamRequest(m.path, m.requestSerialize, deserialize, request);
    let cancelled = false;
    let closed = false;
    const close = (error: GobgpApiError | undefined): void => {
      if (closed || cancelled) return;
      closed = true;
      handlers.onClose(error);
    };
    stream.on('data', (ev: GobgpWatchEvent) => {
      if (!cancelled) handlers.onEvent(ev);
    });
    stream.on('error', (err: Error & { code?: number; details?: string }) => close(gobgpError('WatchEvent', err)));
    stream.on('end', () => close(undefined));
    return {
      cancel() {
        cancelled = true;
        stream.cancel();
      },
    };
  }

  // --- internals ---

  private unary(rpc: string, req: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    return new Promise((resolve, reject) => {
      (this.stub[rpc] as UnaryMethod).call(this.stub, req, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err !== null ? reject(gobgpError(rpc, err)) : resolve(res),
      );
    });
  }

  private collect(rpc: string, req: unknown): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const rows: unknown[] = [];
      const stream = (this.stub[rpc] as StreamMethod).call(this.stub, req, { deadline: Date.now() + this.timeoutMs });
      stream.on('data', (row: unknown) => rows.push(row));
      stream.on('error', (err: Error & { code?: number; details?: string }) => reject(gobgpError(rpc, err)));
      stream.on('end', () => resolve(rows));
    });
  }
}
