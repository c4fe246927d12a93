// Chooses the imperial monitor for one --emperor value, by uWSGI's rule (docs/UWSGI.md §1.1).
import * as path from 'node:path';
import { Monitor, MonitorFs, MonitorOptions, MonitorSpecError } from './types';
import { DirMonitor } from './dir-monitor';
import { GlobMonitor } from './glob-monitor';
import { EtcdMonitor } from './etcd-monitor';
import { PgMonitor } from './pg-monitor';
import { expandGlob, hasMagic, parseGlob } from './glob-pattern';

export type { Monitor, MonitorEvents, MonitorFs, MonitorOptions, VassalSource } from './types';
export { MonitorSpecError } from './types';

/** true: a directory; false: not one (missing, a file); 'hung': it did not answer (taken as a directory). */
async function dirState(fs: MonitorFs, p: string): Promise<boolean | 'hung'> {
  try {
    return (await fs.dirStamp(p)) !== null;
  } catch (err) {
    if ((err as { code?: string }).code === 'ETIMEDOUT') return 'hung';
    return false;
  }
}

async function dirMonitor(name: string, spec: string, opts: MonitorOptions, fs: MonitorFs): Promise<Monitor> {
  // the agent answers for absolute paths only: a relative --emperor is the emperor's cwd's
  const dir = path.resolve(name);
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch (err) {
    // a directory on a hung mount is watched as named; its scans time out until it answers
    if ((err as { code?: string }).code !== 'ETIMEDOUT') throw new MonitorSpecError(`--emperor ${spec}: ${(err as Error).message}`);
    real = dir;
  }
  if ((await dirState(fs, real)) === false) throw new MonitorSpecError(`--emperor ${spec}: ${real} is not a directory`);
  return new DirMonitor(real, opts, fs);
}

/**
 * 'dir://x' and 'glob://x' name their monitor. A plain value is expanded as a glob: exactly one match that is a
 * directory makes a dir monitor on it, anything else (no match, several, a file) a glob monitor; so a directory that
 * does not exist yet is a glob matching nothing, as in uWSGI. Every look at the filesystem goes through `fs`.
 */
export async function createMonitor(spec: string, opts: MonitorOptions, fs: MonitorFs): Promise<Monitor> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  const cwd = process.cwd();
  if (scheme) {
    const rest = spec.slice(scheme[0].length);
    switch (scheme[1].toLowerCase()) {
      case 'dir':
        return dirMonitor(rest, spec, opts, fs);
      case 'glob':
        return new GlobMonitor(rest, cwd, opts, fs);
      case 'etcd':
        return new EtcdMonitor(spec, opts);
      case 'pg':
        return new PgMonitor(spec, opts);
      default:
        throw new MonitorSpecError(
          `--emperor ${spec}: unknown imperial monitor '${scheme[1]}://' (known: dir://, glob://, etcd://, pg://)`,
        );
    }
  }
  if (!hasMagic(spec))
    return (await dirState(fs, path.resolve(cwd, spec))) ? dirMonitor(spec, spec, opts, fs) : new GlobMonitor(spec, cwd, opts, fs);
  const walk = await expandGlob(parseGlob(spec), cwd, 8, (d) => fs.readdir(d).catch(() => null));
  const found: string[] = [];
  for (const m of walk.matches) if (await dirState(fs, m.path)) found.push(m.path);
  if (found.length === 1 && walk.matches.length === 1) return dirMonitor(found[0], spec, opts, fs);
  return new GlobMonitor(spec, cwd, opts, fs);
}
