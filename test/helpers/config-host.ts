// Resolving configs in tests the way the emperor's reader does: every file read and command run by an agent holding
// the vassal's identity (this process's own unless `as` says otherwise), with the same budget.
import { AgentPool } from '../../src/agent/host';
import { loadConfig, type ConfigHost, type LoadOptions, type ResolvedConfig } from '../../src/config';
import { binaryRealpath, vassalFacts } from '../../src/reader/facts';

let pool: AgentPool | undefined;
let binary: string | undefined;

export interface As {
  uid: number;
  gid: number;
}

/** A host reading as `as` (default: this process), its calls sharing one deadline of budgetMs. */
export function testHost(as?: As, budgetMs = 5000): ConfigHost {
  pool ??= new AgentPool({ env: process.env });
  return pool.host(as ? { uid: as.uid, gid: as.gid, groups: [as.gid] } : null, budgetMs);
}

/** loadConfig through an agent; `as` is the vassal's identity (its reads and %u %U %g %G). */
export function load(spec: string, opts: Omit<LoadOptions, 'host'> & { as?: As } = {}): ResolvedConfig {
  const { as, ...rest } = opts;
  binary ??= binaryRealpath('uwsgi', process.env.PATH);
  return loadConfig(spec, { facts: vassalFacts(as ?? null, binary), ...rest, host: testHost(as) });
}
