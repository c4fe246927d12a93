// The resolved config model: what every consumer (emperor, jail plan compiler, CLI) reads. Never raw text.
import type { ConfigHost } from './host';

export interface ConfigOption {
  key: string;
  value: string;
  /** Absolute path of the file the option came from ('<command line>', '<env>' or '<vassal-set>' for injections). */
  file: string;
  /** 1-based line in that file (0 when there is no line, e.g. an injected option). */
  line: number;
}

/** What %-magic and placeholders know of the process that resolves a config (magic.ts). */
export interface ProcessFacts {
  cwd: string;
  binaryPath: string;
  hostname: string;
  uid: number;
  gid: number;
  user: string;
  group: string;
  cpus: number;
  version: string;
}

/** The facts a caller may give; the rest are this process's own. */
export type FactsInput = Partial<Omit<ProcessFacts, 'cwd'>>;

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
  /** Every file read, stat and command of the resolution goes through it, with the vassal's rights. */
  host: ConfigHost;
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
  /** How to read the top-level file. Default: from its extension (.ini, .yml/.yaml, .json/.js, .xml), else ini. */
  format?: ConfigFormat;
  /**
   * Who the vassal is and where it runs, for %u %U %g %G %h %b %k and if-hostname: given by the caller (the
   * language looks nothing up). Default: this process's uid/gid (names = the numbers), os.hostname(), %b empty.
   */
  facts?: FactsInput;
}

export type ConfigFormat = 'ini' | 'yaml' | 'json' | 'xml';
