// The emperor <-> config reader conversation: one JSON object per line each way on the reader's fd 3. A reader works
// on one request at a time, in the order they came (so a reader that dies or spins is blamed on exactly one vassal),
// and answers each in that order. The emperor may queue several requests in a reader and take back those it has not
// started: the line {"cancel":true} makes the reader answer each of them at once with a CANCELLED error.
import { array, boolean, integer, literal, object, oneOf, optional, nullable, record, string, type Check } from '../check';
import type { ResolvedConfig } from '../config/types';

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
  /** Whose rights every access of this resolution has; null: the emperor's own (not tyrant mode). */
  identity: Identity | null;
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
  /**
   * The environment of this resolution ($(VAR), @(exec://)) and of the agents working as identity: a tyrant vassal's
   * own (src/config/vassal-env.ts). Without it, the reader's.
   */
  env?: Record<string, string>;
}

/** Takes back every request the reader has not started. */
export interface CancelLine {
  cancel: true;
}

/** The error code of a request answered unstarted after a cancel line: the emperor asks again, elsewhere. */
export const CANCELLED = 'ECANCELED';

const MAX_TEXT = 1 << 20;
const MAX_ID = 0xffff_ffff;
const texts = array(string({ max: MAX_TEXT }), 100_000);

const requestCheck: Check<ReadRequest> = object({
  id: integer(1),
  spec: string({ min: 1, max: MAX_TEXT }),
  cwd: string({ min: 1, max: MAX_TEXT }),
  isReload: boolean,
  identity: nullable(object({ uid: integer(0, MAX_ID), gid: integer(0, MAX_ID), groups: array(integer(0, MAX_ID), 65536) })),
  budgetMs: integer(1),
  set: texts,
  includes: texts,
  includesBefore: texts,
  inherits: texts,
  inheritsBefore: texts,
  binaryPath: string({ max: MAX_TEXT }),
  sections: optional(literal(true)),
  env: optional(record(string({ max: MAX_TEXT }))),
});

/** One line from the emperor, as the reader checks it. */
export const requestLine: Check<ReadRequest | CancelLine> = oneOf(requestCheck, object({ cancel: literal(true) }));

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
}

export type ReadAnswer =
  { id: number; config: ResolvedConfig; shell: string } | { id: number; sections: SectionDigest[] } | { id: number; error: ReadError };

/** Larger answers are refused by the reader and, should one come anyway, treated as a broken reader. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
