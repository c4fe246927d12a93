// Chooses the imperial monitor for one --emperor value, by uWSGI's rule (reference §1.1).
import { existsSync, realpathSync, statSync } from 'node:fs';
import { Monitor, MonitorOptions } from './types';
import { DirMonitor } from './dir-monitor';
import { GlobMonitor } from './glob-monitor';
import { expandGlobSync, hasMagic, parseGlob } from './glob-pattern';

export type { Monitor, MonitorEvents, MonitorOptions, VassalSource } from './types';

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function dirMonitor(dir: string, spec: string, opts: MonitorOptions): Monitor {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    throw new Error(`--emperor ${spec}: ${(err as Error).message}`);
  }
  if (!isDir(real)) throw new Error(`--emperor ${spec}: ${real} is not a directory`);
  return new DirMonitor(real, opts);
}

/**
 * 'dir://x' and 'glob://x' name their monitor. A plain value is expanded as a glob: exactly one match that is a
 * directory makes a dir monitor on it, anything else (no match, several, a file) a glob monitor; so a directory that
 * does not exist yet is a glob matching nothing, as in uWSGI.
 */
export function createMonitor(spec: string, opts: MonitorOptions): Monitor {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  if (scheme) {
    const rest = spec.slice(scheme[0].length);
    switch (scheme[1].toLowerCase()) {
      case 'dir':
        return dirMonitor(rest, spec, opts);
      case 'glob':
        return new GlobMonitor(rest, process.cwd(), opts);
      default:
        throw new Error(`--emperor ${spec}: unknown imperial monitor '${scheme[1]}://' (known: dir://, glob://)`);
    }
  }
  if (!hasMagic(spec)) return isDir(spec) ? dirMonitor(spec, spec, opts) : new GlobMonitor(spec, process.cwd(), opts);
  const found = expandGlobSync(parseGlob(spec), process.cwd()).matches.filter((m) => existsSync(m.path));
  if (found.length === 1 && isDir(found[0].path)) return dirMonitor(found[0].path, spec, opts);
  return new GlobMonitor(spec, process.cwd(), opts);
}
