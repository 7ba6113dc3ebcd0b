// Named errors of the store (STYLE: errors are values in the core, named error classes in the
// shell). `code` is stable for the REST API's catalogue; `message` is a sentence for people.
import type { Id, TopologyObjectType, ValidationIssue } from '../topology/index.js';

export type StoreErrorCode =
  | 'INVALID_ID'
  | 'VALIDATION_FAILED'
  | 'OBJECT_EXISTS'
  | 'OBJECT_NOT_FOUND'
  | 'OBJECT_IN_USE'
  | 'PORT_PEERED'
  | 'CONCURRENT_MODIFICATION'
  | 'CONNECTION_LOSS'
  | 'SESSION_EXPIRED'
  | 'CLIENT_CLOSED'
  | 'NAT_BLOCKS_EXHAUSTED'
  | 'CORRUPT_OBJECT'
  | 'ZOOKEEPER';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidIdError extends StoreError {
  constructor(readonly id: unknown) {
    super('INVALID_ID', `${JSON.stringify(id) ?? String(id)} is not a usable id: ids are non-empty text other than "." and ".."`);
  }
}

export class ValidationError extends StoreError {
  constructor(readonly issues: readonly ValidationIssue[]) {
    super('VALIDATION_FAILED', `refused: ${issues.map((i) => i.message).join('; ')}`);
  }
}

export class ObjectExistsError extends StoreError {
  constructor(
    readonly objectType: TopologyObjectType,
    readonly id: Id,
  ) {
    super('OBJECT_EXISTS', `${objectType} ${id} already exists`);
  }
}

export class ObjectNotFoundError extends StoreError {
  constructor(
    readonly objectType: TopologyObjectType,
    readonly id: Id,
  ) {
    super('OBJECT_NOT_FOUND', `${objectType} ${id} does not exist`);
  }
}

export interface Referrer {
  readonly objectType: TopologyObjectType;
  readonly id: Id;
}

/** Deleting the object would leave others naming it. */
export class ObjectInUseError extends StoreError {
  constructor(
    readonly objectType: TopologyObjectType,
    readonly id: Id,
    readonly referrers: readonly Referrer[],
  ) {
    super(
      'OBJECT_IN_USE',
      `${objectType} ${id} is in use by ${referrers.map((r) => `${r.objectType} ${r.id}`).join(', ')}; change or delete those first`,
    );
  }
}

/** A peered (interior) port cannot be deleted or peered again until it is unpeered. */
export class PortPeeredError extends StoreError {
  constructor(
    readonly portId: Id,
    readonly peerId: Id,
    action: string,
  ) {
    super('PORT_PEERED', `port ${portId} is peered with port ${peerId}; unpeer it before ${action}`);
  }
}

/** Optimistic retries ran out: other writers kept changing the same objects. */
export class ConcurrentModificationError extends StoreError {
  constructor(
    readonly attempts: number,
    what: string,
  ) {
    super('CONCURRENT_MODIFICATION', `${what} failed after ${attempts} attempts: concurrent writers kept changing the same objects`);
  }
}

/** The connection dropped while a write was in flight: it may or may not have been applied. */
export class ConnectionLossError extends StoreError {
  constructor(what: string) {
    super('CONNECTION_LOSS', `connection to ZooKeeper lost during ${what}; the outcome is unknown, read back before retrying`);
  }
}

export class SessionExpiredError extends StoreError {
  constructor(what: string) {
    super('SESSION_EXPIRED', `ZooKeeper session expired during ${what}`);
  }
}

export class ClientClosedError extends StoreError {
  constructor(what: string) {
    super('CLIENT_CLOSED', `ZooKeeper client is closed (${what})`);
  }
}

export class NatBlocksExhaustedError extends StoreError {
  constructor(
    readonly deviceId: Id,
    readonly ip: string,
  ) {
    super('NAT_BLOCKS_EXHAUSTED', `no free SNAT port block for ${ip} on device ${deviceId}: every block in range is leased`);
  }
}

/** A stored object that cannot be decoded: it can be overwritten with put(), not reasoned about. */
export class CorruptObjectError extends StoreError {
  constructor(
    readonly objectType: TopologyObjectType,
    readonly id: Id,
    readonly reason: string,
  ) {
    super('CORRUPT_OBJECT', `${objectType} ${id} in the store is unreadable (${reason})`);
  }
}

/** Any other ZooKeeper error, with its code name (NO_NODE, BAD_VERSION, ...). */
export class ZooKeeperError extends StoreError {
  constructor(
    readonly zkCode: number,
    readonly zkName: string,
    readonly path: string | undefined,
    what: string,
  ) {
    super('ZOOKEEPER', `${what}${path === undefined ? '' : ` on ${path}`}: ZooKeeper ${zkName}`);
  }
}
