// The emperor <-> config reader conversation: one JSON object per line each way on the reader's fd 3. A reader works
// on one request at a time, in the order they came (so a reader that dies or spins is blamed on exactly one vassal),
// and answers each in that order. The emperor may queue several requests in a reader and take back those it has not
// started: the line {"cancel":true} makes the reader answer each of them at once with a CANCELLED error. A reader parses
// tenants' bytes, so the emperor checks every answer against the schema here before using it (a bad one ends that
// reader, and the vassal gets an error saying so); the reader checks the requests the same way. Each message's
// shape is written once, below: a field added to an answer is added to its shape, and the types follow.
import {
  array,
  boolean,
  byKey,
  integer,
  literal,
  nullable,
  object,
  oneOf,
  optional,
  parseJson,
  record,
  string,
  type Check,
  type Infer,
} from '../check';
import type { ResolvedConfig } from '../config/types';
import { checkFileFacts } from '../file-identity';

/** Larger answers are refused by the reader and, should one come anyway, treated as a broken reader. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** Larger requests are a bug of the emperor's; the reader refuses them. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

const id = integer(1);
const path = string({ max: 1 << 20 });
const line = integer(0);
/** Options, warnings, reasons: bounded by the answer's size as a whole. */
const text = string();
const ids = integer(0, 0xffffffff);

const identity = object({ uid: ids, gid: ids, groups: array(ids, 65536) });
export type Identity = Infer<typeof identity>;

const readRequest = object({
  id,
  /** The vassal file as the monitor named it, relative to cwd (so %o is 'app.ini'). */
  spec: path,
  cwd: path,
  isReload: boolean,
  /**
   * Whose rights every access of this resolution has; null: the emperor's own (not tyrant mode). With an identity the
   * vassal file is opened once and judged on that open's facts before anything of it is resolved
   * (src/reader/vassal-file.ts).
   */
  identity: nullable(identity),
  /** --emperor-tyrant-nofollow: the owner is the owner of the path's own last name. */
  tyrantNofollow: boolean,
  /** Time for the whole resolution, every file and command of it. */
  budgetMs: integer(0, 24 * 3600 * 1000),
  set: array(text),
  includes: array(path),
  includesBefore: array(path),
  inherits: array(path),
  inheritsBefore: array(path),
  /** %b: the uWSGI binary the emperor runs for uWSGI vassals. */
  binaryPath: path,
  /** Not the config but the file's sections, each with a digest of its resolved options (--emperor-multi-section). */
  sections: optional(literal(true)),
  /**
   * The environment of this resolution ($(VAR), @(exec://)) and of the agents working as identity: a tyrant vassal's
   * own (src/config/vassal-env.ts). Without it, the reader's.
   */
  env: optional(record(string({ max: 1 << 20 }))),
});
export type ReadRequest = Infer<typeof readRequest>;

/** Takes back every request the reader has not started. */
const cancelLine = object({ cancel: literal(true) });
export type CancelLine = Infer<typeof cancelLine>;

/** The error code of a request answered unstarted after a cancel line: the emperor asks again, elsewhere. */
export const CANCELLED = 'ECANCELED';

const resolvedConfig: Check<ResolvedConfig> = object({
  spec: path,
  file: path,
  options: array(object({ key: text, value: text, file: path, line })),
  warnings: array(object({ file: path, line, message: text })),
});

/** One section of a vassal file and a digest of its resolved options (of its error when it does not resolve). */
const sectionDigest = object({
  /** null: the default section, the plain file name. */
  section: nullable(text),
  digest: text,
});
export type SectionDigest = Infer<typeof sectionDigest>;

const readError = object({
  file: path,
  line,
  option: optional(text),
  reason: text,
  code: string({ min: 1, max: 64 }),
  /** EOWNER and EIDENTITY: the facts of the vassal file's one open, which the emperor judges again. */
  opened: optional(checkFileFacts),
});
export type ReadError = Infer<typeof readError>;

/** The answer shapes: a config (and the shell its hooks run under), a file's sections, or an error. */
const configAnswer = object({
  id,
  config: resolvedConfig,
  shell: path,
  /** With an identity: the facts of the vassal file's one open, whose owner the emperor checks. */
  opened: optional(checkFileFacts),
  /** With an identity, for a uWSGI vassal: the bytes of that open (base64), which are what it gets to run. */
  bytes: optional(string({ pattern: /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/ })),
});
const sectionsAnswer = object({ id, sections: array(sectionDigest) });
const errorAnswer = object({ id, error: readError });
const readAnswer = byKey({ config: configAnswer, sections: sectionsAnswer, error: errorAnswer });
export type ReadAnswer = Infer<typeof readAnswer>;

/** One answer line as the emperor reads it; a CheckError says what is wrong and where. */
export function parseAnswer(line: string): ReadAnswer {
  return parseJson(readAnswer, line, 'answer');
}

/** One line from the emperor as the reader reads it, a request or a cancel line; a CheckError says what is wrong. */
export function parseRequest(line: string): ReadRequest | CancelLine {
  return parseJson(oneOf(readRequest, cancelLine), line, 'request');
}
