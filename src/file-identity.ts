// Whose file it is (README "Tyrant mode", "Threat model"): the rule a tyrant applies to the facts of one open of a
// vassal file (the agent's OPEN, native/agent/checked_open.cc), before anything of it runs. The owner is the owner of
// the descriptor whose bytes were read, never of a path looked at earlier; and a file counts as its owner's only if
// nobody else could have put it there: every directory and symlink on its path is root's or the owner's, no
// directory on it is writable by others without the sticky bit (OpenSSH's StrictModes, suexec), the file has one
// name (a hard link keeps its victim's owner), and no FUSE daemon of someone else's serves any of it (it can report
// any owner and serve any bytes). Pure: the config reader applies it before it resolves anything, and the emperor
// again on the facts the reader returns.
import { array, boolean, integer, literal, nullable, number, object, optional, string, type Check } from './check';
import { groupNameOf, userOf } from './tables/passwd';

/** Directories and symlinks one open reports at most (native/agent/agent.h mirrors it). */
export const MAX_OPEN_STEPS = 256;
const PATH_MAX = 4096;

/** A directory or symlink on the way to the file, as the walk met it. */
export interface PathStep {
  type: 'dir' | 'symlink';
  /** Where it was met (symlinks resolved before it). */
  path: string;
  mode: number;
  uid: number;
  gid: number;
  /** On FUSE: the mount's user_id (null: it could not be learned); undefined: not on FUSE. */
  fuse?: number | null;
}

export interface FileFacts {
  /** The path that was asked for. */
  path: string;
  /** Where the walk found the file, every symlink resolved. */
  real: string;
  /** fstat of the descriptor whose bytes were read. */
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtimeMs: number;
  fuse?: number | null;
  /** lstat of the path's own last name: a symlink, or the file itself. */
  entry: { symlink: boolean; uid: number; gid: number; ino: number };
  steps: PathStep[];
}

const id = integer(0, 0xffffffff);
const fuse = optional(nullable(id));
const path = string({ min: 1, max: PATH_MAX });

/** FileFacts as they cross a process boundary (the config reader's answer): checked, never cast. */
export const checkFileFacts: Check<FileFacts> = object({
  path,
  real: path,
  dev: integer(0),
  ino: integer(0),
  mode: id,
  uid: id,
  gid: id,
  nlink: id,
  size: integer(0),
  mtimeMs: number(),
  fuse,
  entry: object({ symlink: boolean, uid: id, gid: id, ino: integer(0) }),
  steps: array(object({ type: literal('dir', 'symlink'), path, mode: id, uid: id, gid: id, fuse }), MAX_OPEN_STEPS),
});

export interface FileOwner {
  uid: number;
  gid: number;
}

export type Verdict = { owner: FileOwner } | { refused: string };

const S_ISVTX = 0o1000;

function who(uid: number): string {
  const name = userOf(uid)?.name;
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

function writers(step: PathStep): string {
  const group = groupNameOf(step.gid);
  const parts = [];
  if (step.mode & 0o020) parts.push(`every member of gid ${step.gid}${group ? ` (${group})` : ''}`);
  if (step.mode & 0o002) parts.push('every user');
  return parts.join(' and ');
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why a FUSE filesystem is not the owner's, or undefined when it is (or it is not FUSE). */
function fuseOf(fuse: number | null | undefined, owner: number, what: string): string | undefined {
  if (fuse === undefined || fuse === 0 || fuse === owner) return undefined;
  const daemon = fuse === null ? 'a daemon whose user could not be learned' : `a daemon of ${who(fuse)}`;
  return `${what} is on a FUSE filesystem served by ${daemon}, which can report any owner and serve any bytes`;
}

/**
 * The owner of the file these facts describe, or why it has none a tyrant may run it as. `nofollow`
 * (--emperor-tyrant-nofollow): the owner of the path's own last name, a symlink's own owner, and then the file it
 * points to must be that owner's or root's.
 */
export function fileIdentity(f: FileFacts, nofollow: boolean): Verdict {
  const owner = nofollow && f.entry.symlink ? { uid: f.entry.uid, gid: f.entry.gid } : { uid: f.uid, gid: f.gid };
  const refuse = (why: string): Verdict => ({ refused: `${f.path}: ${why}: refused (see README "Whose file it is")` });
  if (owner.uid === 0 || owner.gid === 0) {
    return {
      refused: `${f.path} is owned by uid ${owner.uid} gid ${owner.gid}, and a tyrant never runs a vassal as root`,
    };
  }
  const mine = (uid: number) => uid === 0 || uid === owner.uid;
  if (!mine(f.uid)) return refuse(`the symlink is ${who(owner.uid)}'s and the file it points to (${f.real}) is ${who(f.uid)}'s`);
  for (const step of f.steps) {
    if (!mine(step.uid)) {
      return refuse(
        step.type === 'symlink'
          ? `the symlink ${step.path} on its path is ${who(step.uid)}'s, neither root's nor the owner's (${who(owner.uid)}): the rule of fs.protected_symlinks, applied in every directory`
          : `the directory ${step.path} on its path is ${who(step.uid)}'s, neither root's nor the owner's (${who(owner.uid)}): ${who(step.uid)} could swap what it holds`,
      );
    }
    if (step.type === 'dir' && step.mode & 0o022 && !(step.mode & S_ISVTX)) {
      return refuse(
        `the directory ${step.path} on its path is writable by ${writers(step)} (mode ${octal(step.mode)}) without the sticky bit: any of them could swap what it holds`,
      );
    }
    const stepFuse = fuseOf(step.fuse, owner.uid, `the ${step.type === 'dir' ? 'directory' : 'symlink'} ${step.path} on its path`);
    if (stepFuse) return refuse(stepFuse);
  }
  if (f.nlink > 1)
    return refuse(
      `${f.real} has ${f.nlink} names (hard links): another name of it may be someone else's, and a hard link keeps the owner of the file it names`,
    );
  const fuse = fuseOf(f.fuse, owner.uid, f.real);
  if (fuse) return refuse(fuse);
  return { owner };
}

/**
 * Why a file read beside a vassal file (an on-demand `<file>.socket`) is not the vassal owner's, or undefined when it
 * is: the same rules, and then its owner must be the vassal's. The reason names paths and ids, never the content.
 */
export function sideFileRefusal(f: FileFacts, owner: FileOwner, nofollow: boolean): string | undefined {
  const verdict = fileIdentity(f, nofollow);
  if ('refused' in verdict) return verdict.refused;
  if (verdict.owner.uid === owner.uid) return undefined;
  return `${f.path} is ${who(verdict.owner.uid)}'s, not the vassal owner's (${who(owner.uid)}): refused, unread`;
}
