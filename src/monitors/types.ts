// The imperial monitor contract: a source of vassal configurations. dir:// and glob:// implement it today;
// a distributed store plugs in beside them by implementing the same three methods.

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
}

export interface Monitor {
  readonly id: string;
  start(events: MonitorEvents): void;
  /** A full rescan now (it also runs every freqSeconds on its own). */
  rescan(): void;
  /** Closes every watcher and timer; no event is delivered afterwards. Final: a stopped monitor cannot start again. */
  stop(): void;
}

export interface MonitorOptions {
  nofollow: boolean;
  tyrantNofollow: boolean;
  freqSeconds: number;
  extraExtensions: string[];
}
