// The emperor's one policy for its own bugs: an exception nobody caught and a rejection nobody handled are logged
// with their stack (`internal-error`), counted (emperor_internal_errors_total), and the emperor carries on. Exiting
// would take every tenant's vassals with it (the death signal), for a fault in one handler; a detached promise's
// rejection (src/detach.ts) goes the same way.
import { logger } from './log';

let count = 0;

/** Logs one internal error with its stack and counts it. */
export function internalError(where: string, e: unknown): void {
  count++;
  const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  logger().error({ event: 'internal-error', where, error }, `${where}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Internal errors since the emperor started. */
export function internalErrorCount(): number {
  return count;
}

/** From here on, an uncaught exception or unhandled rejection is an internal error, and the process lives on. */
export function installProcessPolicy(): void {
  process.on('uncaughtException', (e) => internalError('uncaught exception', e));
  process.on('unhandledRejection', (reason) => internalError('unhandled rejection', reason));
}
