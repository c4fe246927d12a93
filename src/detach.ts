// A promise whose outcome nobody waits for: started on its own (a timer's retry, a background scan, a connection's
// handler), its rejection is logged where it happened and never left to the process's unhandled-rejection policy.
import { logger } from './log';

export function detached(p: Promise<unknown>, where: string): void {
  p.catch((e: unknown) => {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    logger().error({ event: 'internal-error', where, error }, `${where}: ${e instanceof Error ? e.message : String(e)}`);
  });
}
