// What the config language asks of the world, injected by whoever resolves a config: the emperor's reader process
// (through agents holding the vassal's credentials), the CLI, the tests. The language itself never opens a file or
// starts a process, so it cannot block, read more than it may, or read with rights the vassal does not have.
import type { HostError, HostStat } from '../host-fs';

export type { HostStat } from '../host-fs';
export { HostError } from '../host-fs';

export interface ConfigFile {
  /** lstat says it is a symlink (uWSGI then keeps the link's own name for %p). */
  symlink: boolean;
  /** lstat's inode (%i); undefined when the name cannot be looked at. */
  ino?: number;
  /** realpath(3) of the name, or why it has none. */
  real: string | HostError;
  /** Its bytes, or why they cannot be read. */
  bytes: Buffer | HostError;
}

/**
 * Every path is absolute. Each call is bounded in time (the host's budget for the whole resolution) and throws
 * HostError; nothing else.
 */
export interface ConfigHost {
  /** A regular file's bytes, at most `limit` (more: EFBIG). Anything but a regular file: ENOTREG / EISDIR. */
  readFile(path: string, limit: number): Buffer;
  /**
   * What reading one config file needs, in one call (a file costs one round trip to the process that reads it):
   * whether the name is a symlink, its inode, its realpath and its bytes (as readFile). Each part fails on its own;
   * only a timeout (or a broken host) throws.
   */
  openConfig(path: string, limit: number): ConfigFile;
  /** stat (follow) or lstat; null when there is nothing to see there (ENOENT, EACCES, ENOTDIR, ELOOP, ...). */
  stat(path: string, follow: boolean): HostStat | null;
  /** realpath(3). */
  realpath(path: string): string;
  /** The names in a directory, without '.' and '..', in no particular order. */
  readdir(path: string): string[];
  /** access(path, X_OK), as the vassal. */
  isExecutable(path: string): boolean;
  /** `/bin/sh -c command` in cwd, stdin from /dev/null, stderr discarded: its stdout (at most `limit` bytes, more:
   *  EFBIG), whatever its exit status (as uWSGI). Its whole process group is killed when it ends or times out. */
  exec(command: string, cwd: string, limit: number): Buffer;
}
