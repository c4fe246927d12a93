// The resolved config model: what every consumer (emperor, jail plan compiler, CLI) reads. Never raw text.

export interface ConfigOption {
  key: string;
  value: string;
  /** Absolute path of the file the option came from ('<command line>', '<env>' or '<vassal-set>' for injections). */
  file: string;
  /** 1-based line in that file (0 when there is no line, e.g. an injected option). */
  line: number;
}

export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
}

export interface ResolvedConfig {
  /** The config as named by the caller (path, maybe with :section). */
  spec: string;
  /** Absolute path of the top-level file. */
  file: string;
  options: ConfigOption[];
  warnings: ConfigWarning[];
}

export interface LoadOptions {
  /** Decides if-reload / if-not-reload (uWSGI's UWSGI_RELOADS). Default false. */
  isReload?: boolean;
  /** vassal-set / --set values ("key=value"), applied as uWSGI applies --set before the file. */
  set?: string[];
  /** vassals-include files, loaded after the vassal file as uWSGI's --vassals-include. */
  includes?: string[];
  /** vassals-include-before files. */
  includesBefore?: string[];
  /** vassals-inherit files (uWSGI's --inherit after the vassal file: read after all the passes, appended at the end). */
  inherits?: string[];
  /** vassals-inherit-before files (--inherit before everything else on the vassal's command line). */
  inheritsBefore?: string[];
  /** Environment for $(VAR), if-env and UWSGI_* options. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative names resolve against (the emperor chdirs into the vassal dir). Default process.cwd(). */
  cwd?: string;
  /** %b (default: the realpath of `uwsgi` found in PATH, as uWSGI reports its own binary). */
  binaryPath?: string;
  /** How to read the top-level file. Default: from its extension (.ini, .yml/.yaml, .json/.js, .xml), else ini. */
  format?: ConfigFormat;
  /**
   * The vassal's credentials (e.g. the file owner under emperor-tyrant): %u %U %g %G, and, when it is not root while
   * we are, who reads included and @() files (by their mode bits) and runs @(exec://), as uWSGI's vassal process
   * would. Default: this process's.
   */
  identity?: { uid: number; gid: number; user?: string; group?: string };
  /** For if-hostname and %h. Default os.hostname(). */
  hostname?: string;
}

export type ConfigFormat = 'ini' | 'yaml' | 'json' | 'xml';
