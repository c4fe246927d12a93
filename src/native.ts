// The one typed door to the C++ addon. Nothing else in the project loads the .node file.
// CONTRACT (implemented by the native-core work; other modules code against these types):

export type Namespace = 'mount' | 'pid' | 'net' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface SpawnOptions {
  /** Absolute path given to execve (no PATH search in the child; use resolveExecutable() first). */
  file: string;
  argv: string[];
  /** "KEY=VALUE" strings, or an object. */
  env: string[] | Record<string, string | undefined>;
  cwd?: string;
  /** child fd i <- parent fd fds[i]; -1 leaves child fd i closed. Every other fd is closed in the child. Default [0,1,2]. */
  fds?: number[];
  namespaces?: Namespace[];
  /** uid_map / gid_map text written for a new user namespace, e.g. "0 1000 1". */
  uidMap?: string;
  gidMap?: string;
  /** A cgroup v2 directory the child starts in (CLONE_INTO_CGROUP, or a write to cgroup.procs before exec). */
  cgroup?: string;
  /** New session (setsid). Default true. */
  setsid?: boolean;
  hostname?: string;
  uid?: number;
  gid?: number;
  /** Supplementary groups; [] clears them. */
  groups?: number[];
  /** Keep only these capabilities in the bounding set. */
  capBounding?: number[];
  /** Raise these as ambient capabilities (survive execve as a non-root uid). */
  capAmbient?: number[];
  noNewPrivs?: boolean;
  /** Parent-death signal, default SIGKILL; 0 disables it. */
  deathSignal?: NodeJS.Signals | number;
}

export interface ExitInfo {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly pid: number;
  /** false once the process is gone (the pidfd then refuses signals). */
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals | number): boolean;
}

/** Error thrown for a failed syscall, shaped like Node's SystemError. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  /** The setup step in the child that failed ('execve', 'setresuid', 'chdir', 'clone3', ...). */
  step?: string;
}
