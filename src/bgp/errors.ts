// Named errors of the BGP role (STYLE: errors are named classes in the shell): bad configuration,
// gobgpd that will not start, and gRPC failures carrying gobgpd's own text. DESIGN: BGP.
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

/** A BGP setting is invalid; `field` names it the way the YAML does (e.g. `peers[1].asn`). */
export class BgpConfigError extends Error {
  override readonly name = 'BgpConfigError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`bgp: ${field}: ${reason}`);
  }
}

/** gobgpd could not be started: binary or proto files missing, exited at once, API never answered. */
export class GobgpdStartError extends Error {
  override readonly name = 'GobgpdStartError';
  constructor(
    message: string,
    /** The last lines gobgpd printed, for the operator. */
    readonly output: string = '',
  ) {
    super(output === '' ? message : `${message}\n${output}`);
  }
}

/** A gRPC call to gobgpd failed; `details` is gobgpd's text (it answers UNKNOWN with text only). */
export class GobgpApiError extends Error {
  override readonly name: string = 'GobgpApiError';
  constructor(
    readonly rpc: string,
    readonly code: number,
    readonly details: string,
  ) {
    super(`gobgpd ${rpc}: ${details} (gRPC ${GrpcStatus[code] ?? code})`);
  }
}

/** gobgpd is not reachable (not started yet, dead, restarting). */
export class GobgpUnavailableError extends GobgpApiError {
  override readonly name = 'GobgpUnavailableError';
}

/** gobgpd refused the request (invalid argument, unknown peer, duplicate peer, ...). */
export class GobgpRejectedError extends GobgpApiError {
  override readonly name = 'GobgpRejectedError';
}

/** gobgpd did not answer within the call's deadline. */
export class GobgpTimeoutError extends GobgpApiError {
  override readonly name = 'GobgpTimeoutError';
}

/** The matching named error for a failed call. */
export function gobgpError(rpc: string, err: Partial<ServiceError> & Error): GobgpApiError {
  const code = typeof err.code === 'number' ? err.code : GrpcStatus.UNKNOWN;
  const details = err.details ?? err.message;
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.CANCELLED:
      return new GobgpUnavailableError(rpc, code, details);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new GobgpTimeoutError(rpc, code, details);
    default:
      return new GobgpRejectedError(rpc, code, details);
  }
}

/** Some peers could not be added, changed or removed; the others were. */
export class BgpPeerApplyError extends Error {
  override readonly name = 'BgpPeerApplyError';
  constructor(readonly failures: readonly { readonly address: string; readonly error: GobgpApiError }[]) {
    super(`gobgpd refused ${failures.length} peer change(s): ${failures.map((f) => `${f.address}: ${f.error.details}`).join('; ')}`);
  }
}
