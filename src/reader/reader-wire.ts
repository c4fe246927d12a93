// The emperor <-> config reader conversation: one JSON object per line each way on the reader's fd 3, one request
// in flight per reader process (so a reader that dies or spins is blamed on exactly one vassal).
import type { ResolvedConfig } from '../config/types';
import type { FileFacts } from '../file-identity';

export interface Identity {
  uid: number;
  gid: number;
  groups: number[];
}

export interface ReadRequest {
  id: number;
  /** The vassal file as the monitor named it, relative to cwd (so %o is 'app.ini'). */
  spec: string;
  cwd: string;
  isReload: boolean;
  /**
   * Whose rights every access of this resolution has; null: the emperor's own (not tyrant mode). With an identity the
   * vassal file is opened once and judged on that open's facts before anything of it is resolved
   * (src/reader/vassal-file.ts).
   */
  identity: Identity | null;
  /** --emperor-tyrant-nofollow: the owner is the owner of the path's own last name. */
  tyrantNofollow: boolean;
  /** Time for the whole resolution, every file and command of it. */
  budgetMs: number;
  set: string[];
  includes: string[];
  includesBefore: string[];
  inherits: string[];
  inheritsBefore: string[];
  /** %b: the uWSGI binary the emperor runs for uWSGI vassals. */
  binaryPath: string;
  /** Not the config but the file's sections, each with a digest of its resolved options (--emperor-multi-section). */
  sections?: true;
}

/** One section of a vassal file and a digest of its resolved options (of its error when it does not resolve). */
export interface SectionDigest {
  /** null: the default section, the plain file name. */
  section: string | null;
  digest: string;
}

export interface ReadError {
  file: string;
  line: number;
  option?: string;
  reason: string;
  code: string;
  /** EOWNER and EIDENTITY: the facts of the vassal file's one open, which the emperor judges again. */
  opened?: FileFacts;
}

export type ReadAnswer =
  | {
      id: number;
      config: ResolvedConfig;
      shell: string;
      /** With an identity: the facts of the vassal file's one open, whose owner the emperor checks. */
      opened?: FileFacts;
      /** With an identity, for a uWSGI vassal: the bytes of that open (base64), which are what it gets to run. */
      bytes?: string;
    }
  | { id: number; sections: SectionDigest[] }
  | { id: number; error: ReadError };

/** Larger answers are refused by the reader and, should one come anyway, treated as a broken reader. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
