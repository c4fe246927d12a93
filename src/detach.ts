// A promise whose outcome nobody waits for: started on its own (a timer's retry, a background scan, a connection's
// handler), its rejection is an internal error logged where it happened (src/internal-errors.ts), never left to the
// process's unhandled-rejection policy.
import { internalError } from './internal-errors';

export function detached(p: Promise<unknown>, where: string): void {
  p.catch((e: unknown) => internalError(where, e));
}
