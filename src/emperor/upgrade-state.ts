// What an emperor would hand to its re-executed image on an in-place upgrade (issue 21; not implemented yet): the
// vassal table and a table of the descriptors it holds, serialized as one JSON document with a format version, and
// checked against the schema below when read back. Only fields the code has today.
//
// Versions: the major changes when a field changes meaning or goes; the minor when a field is added, and an added
// field is always optional. So an emperor reads a state of its own major and of any minor up to its own: a newer
// emperor reads the previous minor (its new fields are absent there), and a state of a newer minor or another major
// is refused before anything of it is used (the old image keeps running).
import { array, boolean, CheckError, integer, literal, nullable, number, object, optional, parseJson, string, type Infer } from '../check';

export const STATE_MAJOR = 1;
export const STATE_MINOR = 0;

/** A state this emperor cannot take over. */
export class UpgradeStateError extends Error {
  readonly code = 'ESTATE';
  constructor(message: string) {
    super(message);
    this.name = 'UpgradeStateError';
  }
}

const fd = integer(0, 0x7fffffff);
const name = string({ min: 1, max: 4096 });
const path = string({ min: 1, max: 4096 });
const secs = integer(0);
const ms = number(0);
const id = integer(0, 0xffffffff);
const text = string({ max: 1 << 20 });

/** The vassal file as its monitor saw it: its identity decides whether a rescan after the upgrade changed anything. */
const configIdentity = object({
  path,
  dir: path,
  mtimeMs: ms,
  uid: id,
  gid: id,
  /** The file's device and inode, where the monitor reported them. */
  dev: optional(integer(0)),
  ino: optional(integer(0)),
});

/** A running instance: its process and the descriptors that are its own (numbers in the descriptor table). */
const instance = object({
  pid: integer(1),
  native: boolean,
  cgroup: optional(path),
  startedAtMs: ms,
  /** The instance's pidfd. */
  pidfd: fd,
  /** A native vassal's init channel, or a uWSGI vassal's protocol socket. */
  channel: fd,
  /** A uWSGI vassal's output pipes (a native vassal's output comes over its channel). */
  stdout: optional(fd),
  stderr: optional(fd),
});

const vassal = object({
  monitor: text,
  name,
  config: configIdentity,
  state: literal('starting', 'running', 'stopping', 'throttled', 'broken', 'exiled', 'refused', 'stopped', 'dormant'),
  /** Stopped by an admin: held until its file changes or an admin starts it. */
  held: boolean,
  instance: nullable(instance),
  // uWSGI's per-instance stats fields, unix seconds, and ours
  born: secs,
  lastMod: secs,
  firstRun: secs,
  lastRun: secs,
  loyal: boolean,
  lastLoyal: secs,
  ready: boolean,
  lastReady: secs,
  accepting: boolean,
  lastAccepting: secs,
  lastHeartbeat: secs,
  cursedAt: secs,
  respawns: integer(0),
  deaths: integer(0),
  lastExit: text,
  setupError: text,
  /** On demand: the socket it sleeps on (name as found, the socket file's inode or 0, its descriptor). */
  onDemand: nullable(object({ name: text, ino: integer(0), fd })),
});

/** The throttle of a vassal that died before it was loyal (the blacklist's own units). */
const blacklistEntry = object({ id: name, levelUs: integer(0), attempt: integer(0), firstAttemptMs: ms, lastAttemptMs: ms });

/** Pool mode: the etcd lease each pool's claims are bound to, kept alive by the new image. */
const poolLease = object({ monitor: text, node: name, lease: string({ pattern: /^[0-9]{1,20}$/ }) });

/** Every descriptor handed over without CLOEXEC, and what it is. */
const descriptor = object({
  fd,
  kind: literal('pidfd', 'init-channel', 'protocol-socket', 'output-pipe', 'on-demand-socket', 'listener'),
  /** The vassal it belongs to (none for a listener). */
  vassal: optional(name),
  /** A listener's server. */
  server: optional(literal('stats', 'metrics', 'control')),
});

const upgradeState = object({
  format: object({ major: literal(STATE_MAJOR), minor: integer(0, STATE_MINOR) }),
  emperor: object({ pid: integer(1), startedAtMs: ms, upgradedAtMs: optional(ms) }),
  vassals: array(vassal),
  blacklist: array(blacklistEntry),
  pool: array(poolLease),
  descriptors: array(descriptor),
});

/** Only the version, read first: the rest of a state of another format is not looked at. */
const stateVersion = object({ format: object({ major: integer(0), minor: integer(0) }) }, { extra: 'ignore' });

export type UpgradeState = Infer<typeof upgradeState>;
export type VassalRecord = Infer<typeof vassal>;
export type Descriptor = Infer<typeof descriptor>;

/** The state as the old image writes it (into the memfd), stamped with this emperor's format version. */
export function writeUpgradeState(state: Omit<UpgradeState, 'format'>): string {
  return JSON.stringify({ format: { major: STATE_MAJOR, minor: STATE_MINOR }, ...state });
}

/**
 * The state as the new image reads it: its version first (another major, or a newer minor, is refused by name),
 * then every field. Throws UpgradeStateError.
 */
export function readUpgradeState(text: string): UpgradeState {
  let version: { major: number; minor: number };
  try {
    version = parseJson(stateVersion, text, 'state').format;
  } catch (e) {
    throw new UpgradeStateError(`not an upgrade state: ${(e as Error).message}`);
  }
  const { major, minor } = version;
  if (major !== STATE_MAJOR || minor > STATE_MINOR)
    throw new UpgradeStateError(
      `an upgrade state of format ${major}.${minor}: this emperor reads ${STATE_MAJOR}.0 to ${STATE_MAJOR}.${STATE_MINOR}`,
    );
  try {
    const state = parseJson(upgradeState, text, 'state');
    checkDescriptors(state);
    return state;
  } catch (e) {
    if (e instanceof CheckError) throw new UpgradeStateError(`a bad upgrade state: ${e.message}`);
    throw e;
  }
}

/** Each descriptor once, and every one a vassal names is in the table as what it names. */
function checkDescriptors(state: UpgradeState): void {
  const kinds = new Map<number, Descriptor>();
  for (const d of state.descriptors) {
    if (kinds.has(d.fd)) throw new CheckError('state.descriptors', 'each descriptor once', `fd ${d.fd} twice`, true);
    kinds.set(d.fd, d);
  }
  const expect = (n: number | undefined, kind: Descriptor['kind'], v: VassalRecord) => {
    if (n === undefined) return;
    const d = kinds.get(n);
    if (d?.kind !== kind || d.vassal !== v.name)
      throw new CheckError(
        `state.vassals[${v.name}]`,
        `fd ${n} in the descriptor table as ${kind} of ${v.name}`,
        d ? `${d.kind}` : 'nothing',
        true,
      );
  };
  for (const v of state.vassals) {
    const i = v.instance;
    if (i) {
      expect(i.pidfd, 'pidfd', v);
      expect(i.channel, i.native ? 'init-channel' : 'protocol-socket', v);
      expect(i.stdout, 'output-pipe', v);
      expect(i.stderr, 'output-pipe', v);
    }
    expect(v.onDemand?.fd, 'on-demand-socket', v);
  }
}
