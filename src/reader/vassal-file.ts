// A tyrant's vassal file, in the config reader: opened once (the agent's OPEN, as the owner the monitor's stat
// guessed), judged on the facts of that one open (src/file-identity.ts) before anything of it is resolved, and then
// the only source of its bytes for the whole resolution, however often the config names the file again. Includes
// and the rest are read by path as the owner, as before: what the owner reads as herself is hers to read.
import * as path from 'node:path';
import { ConfigError, HostError, type ConfigHost } from '../config';
import type { ConfigFile } from '../config/host';
import { splitSection } from '../config/magic';
import { MAX_CONFIG_BYTES } from '../config/source';
import { fileIdentity, type FileFacts } from '../file-identity';
import type { OpenedFile } from '../agent/calls';
import type { Identity } from './reader-wire';

/** The file is not its guessed owner's (EOWNER) or is no one's a tyrant may run it as (EIDENTITY); with its facts. */
export class FileIdentityError extends ConfigError {
  constructor(
    spec: string,
    reason: string,
    code: 'EOWNER' | 'EIDENTITY',
    readonly facts: FileFacts,
  ) {
    super(spec, 0, reason, undefined, code);
  }
}

/** What a host that opens files once gives for a vassal file. */
export interface FileOpener {
  open(path: string, limit: number): OpenedFile;
}

/**
 * Opens the vassal file `spec` (relative to cwd, maybe with :section) once as `identity`, and returns a host that
 * answers every later read of that file with those same bytes. Throws FileIdentityError when the facts refuse it or
 * name another owner than `identity`, ConfigError when it cannot be read.
 */
export function openVassalFile(
  host: ConfigHost & FileOpener,
  spec: string,
  cwd: string,
  identity: Identity,
  nofollow: boolean,
): { host: ConfigHost; opened: OpenedFile } {
  const file = path.resolve(cwd, splitSection(spec).file);
  let opened: OpenedFile;
  try {
    opened = host.open(file, MAX_CONFIG_BYTES);
  } catch (e) {
    if (e instanceof HostError) throw new ConfigError(spec, 0, e.message, undefined, e.code);
    throw e;
  }
  const verdict = fileIdentity(opened.facts, nofollow);
  if ('refused' in verdict) throw new FileIdentityError(spec, verdict.refused, 'EIDENTITY', opened.facts);
  const { uid, gid } = verdict.owner;
  if (uid !== identity.uid || gid !== identity.gid) {
    throw new FileIdentityError(
      spec,
      `its one open shows owner uid ${uid} gid ${gid}, not uid ${identity.uid} gid ${identity.gid} as looked at before: it is read again as its owner`,
      'EOWNER',
      opened.facts,
    );
  }
  const loaded: ConfigFile = {
    symlink: opened.facts.entry.symlink,
    ino: opened.facts.entry.ino,
    real: opened.facts.real,
    bytes: opened.bytes,
  };
  const once: ConfigHost = {
    readFile: (p, limit) => host.readFile(p, limit),
    openConfig: (p, limit) => (p === file ? loaded : host.openConfig(p, limit)),
    stat: (p, follow) => host.stat(p, follow),
    realpath: (p) => host.realpath(p),
    readdir: (p) => host.readdir(p),
    isExecutable: (p) => host.isExecutable(p),
    exec: (command, dir, limit) => host.exec(command, dir, limit),
  };
  return { host: once, opened };
}
