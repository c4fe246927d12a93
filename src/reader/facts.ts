// What a config's magic variables say about the vassal and the host (%u %U %g %G %h %b), known to the process that
// resolves it; the config language itself looks nothing up.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { FactsInput } from '../config';
import { resolveExecutable } from '../executable';
import { groupNameOf, userOf } from '../tables/passwd';

/** The facts for a vassal running as `identity` (null: as this process). */
export function vassalFacts(identity: { uid: number; gid: number } | null, binaryPath: string): FactsInput {
  const uid = identity?.uid ?? process.getuid!();
  const gid = identity?.gid ?? process.getgid!();
  // uWSGI falls back to the number when the id has no name
  return { uid, gid, user: userOf(uid)?.name ?? String(uid), group: groupNameOf(gid) ?? String(gid), hostname: os.hostname(), binaryPath };
}

/** %b: the realpath of the uWSGI binary the emperor runs, as uWSGI reports its own; '' when there is none. */
export function binaryRealpath(binary: string, PATH: string | undefined): string {
  try {
    return fs.realpathSync(resolveExecutable(binary, PATH));
  } catch {
    return '';
  }
}
