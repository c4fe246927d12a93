// The imperial monitor contract: a source of vassal configurations. dir:// and glob:// implement it today;
// a distributed store plugs in beside them by implementing the same three methods.
import type { DirStamp, HostError, SourceStat, StatModes } from '../host-fs';

export type { DirStamp, SourceStat, StatModes } from '../host-fs';

/** An --emperor value that names no usable monitor. */
export class MonitorSpecError extends Error {
  readonly code = 'EMONITORSPEC';
}

export interface VassalSource {
  /** The vassal id. dir monitor: the bare entry name ('app1.ini'); glob monitor: the path as the pattern yields it. */
  name: string;
  /** Absolute path to load the config from (for a symlink, the link itself, not its target). */
  path: string;
  /** Directory the emperor chdirs into for this vassal (dir: the watched dir; glob: the emperor's cwd at start). */
  dir: string;
  /** stat() mtime, or lstat() mtime with nofollow. Never lower than a value already reported for this name. */
  mtimeMs: number;
  /** Owner for tyrant mode: stat(), or lstat() with tyrantNofollow. */
  uid: number;
  gid: number;
  /** The scanner argument as uWSGI shows it in stats (dir: realpath; glob: the pattern without glob://). */
  monitor: string;
}

export interface MonitorEvents {
  add(src: VassalSource): void;
  /** mtime grew or the owner changed; the emperor decides what an owner change means in tyrant mode. */
  change(src: VassalSource): void;
  remove(src: VassalSource): void;
  /** A full scan is over (the first one: every vassal there was at start has been added). */
  scanned?(): void;
  /**
   * The file changed but this vassal's resolved options did not (multi-section files, src/monitors/section-monitor.ts): a
   * running instance is left alone, one that is not running may be retried.
   */
  unchanged?(src: VassalSource): void;
}

export interface Monitor {
  readonly id: string;
  /** Paths it cannot look at now (a hung mount: their vassals are kept as they are), with why. */
  readonly errors: Array<{ path: string; error: string }>;
  start(events: MonitorEvents): void;
  /** A full rescan now (every freqSeconds a cheaper safety-net check runs on its own: src/monitors/file-monitor.ts). */
  rescan(): void;
  /** Closes every watcher and timer; no event is delivered afterwards. Final: a stopped monitor cannot start again. */
  stop(): void;
}

export interface MonitorOptions {
  nofollow: boolean;
  tyrantNofollow: boolean;
  freqSeconds: number;
  extraExtensions: string[];
  /** Tyrant mode: a store's vassal is owned by the uid/gid the store names (pg), its file chowned to them. */
  tyrant?: boolean;
  /**
   * The emperor's private runtime directory: store monitors (etcd://, pg://) write each vassal's config there, so
   * it is a file vassal like any other.
   */
  runtimeDir?: string;
  /** pg://: LISTEN on this channel; a NOTIFY runs the query at once (polling every freqSeconds stays). */
  pgChannel?: string;
}

/**
 * The filesystem as a monitor sees it, injected by the emperor. Every call runs outside the emperor's event loop
 * (in an agent process), within a time budget, and fails with HostError (src/host-fs.ts): a directory on a hung
 * mount costs a monitor one timeout, never the emperor's responsiveness.
 */
export interface MonitorFs {
  /** Entry names of a directory, without '.' and '..'. */
  readdir(dir: string): Promise<string[]>;
  /**
   * A directory's inode (to notice it being replaced) and mtime (to notice an entry added, removed or renamed without
   * listing it), or null when it is missing or not a directory.
   */
  dirStamp(dir: string): Promise<DirStamp | null>;
  realpath(path: string): Promise<string>;
  /**
   * Per path: its SourceStat, null when it is not (or no longer) a vassal, or a HostError when that one path could
   * not be looked at in time (ETIMEDOUT); the paths after a hung one are still answered.
   */
  statSources(paths: readonly string[], modes: StatModes): Promise<Array<SourceStat | HostError | null>>;
}
