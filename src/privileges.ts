// The paranoid emperor: with `uid`, `gid` and `cap` in its own config it does its work as that uid holding only
// those capabilities. Node never changes its own credentials (docs/ARCHITECTURE.md, Hard rules): the root process starts the real
// emperor through emperor-setpriv (uid/gid/groups applied before exec, the caps kept as ambient) and only waits
// for it, forwarding signals and its exit status. Also: the capability checks that turn a bare EPERM into an
// error naming the missing capability.
import * as fs from 'node:fs';
import * as native from './native';
import { capabilityNumber } from './tables/capabilities';
import { delegateTree } from './cgroup/tree';
import { logger } from './log';
import { builtFile } from './package-info';
import { gidOf, supplementaryGroups, uidOf, userOf } from './tables/passwd';

/** Set in the real emperor's environment, so it does not start itself again. */
const DROPPED_MARKER = 'EMPEROR_PRIVILEGES_DROPPED';

const CAP_DAC_OVERRIDE = 1n;
const CAP_KILL = 5n;
const CAP_SETGID = 6n;
const CAP_SETUID = 7n;
const CAP_SYS_ADMIN = 21n;
// the capabilities these messages are about; others by number
const CAP_NAMES: Record<number, string> = { 6: 'setgid', 7: 'setuid', 21: 'sys_admin' };

export class PrivilegeError extends Error {}

export interface PrivilegeOptions {
  uid?: string;
  gid?: string;
  cap?: string;
}

export interface Target {
  uid: number;
  gid: number;
  groups: number[];
  caps: bigint;
}

/** The emperor's own uid/gid/cap options resolved to numbers; undefined when none is given. */
export function resolveTarget(o: PrivilegeOptions): Target | undefined {
  if (o.uid === undefined && o.gid === undefined && o.cap === undefined) return undefined;
  if (o.uid === undefined)
    throw new PrivilegeError('emperor options gid/cap need uid: the emperor drops its privileges only together with its uid');
  const uid = uidOf(o.uid);
  if (uid === undefined) throw new PrivilegeError(`emperor option uid: unknown user '${o.uid}'`);
  const user = userOf(uid);
  const gid = o.gid !== undefined ? gidOf(o.gid) : user?.gid;
  if (gid === undefined)
    throw new PrivilegeError(
      o.gid !== undefined
        ? `emperor option gid: unknown group '${o.gid}'`
        : `emperor option uid: uid ${uid} has no passwd entry, so give gid too`,
    );
  let caps = 0n;
  for (const name of (o.cap ?? '').split(/[,\s]+/).filter(Boolean)) {
    try {
      caps |= 1n << BigInt(capabilityNumber(name));
    } catch (e) {
      throw new PrivilegeError(`emperor option cap: ${(e as Error).message}`);
    }
  }
  return { uid, gid, groups: supplementaryGroups(uid, gid), caps };
}

function capMask(field: 'CapEff' | 'CapAmb' | 'CapPrm', pid: number | 'self' = 'self'): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function setprivExecutable(): string {
  return builtFile('emperor-setpriv');
}

/**
 * Called first by the CLI. Without uid/gid/cap it returns at once; in the emperor that already dropped it checks it
 * got what was asked; otherwise it re-execs this process through emperor-setpriv and never returns.
 */
export function dropPrivileges(o: PrivilegeOptions): void {
  const target = resolveTarget(o);
  if (!target) return;
  if (process.env[DROPPED_MARKER]) {
    if (process.getuid!() !== target.uid || process.getgid!() !== target.gid || capMask('CapEff') !== target.caps) {
      throw new PrivilegeError(
        `${DROPPED_MARKER} is set but this process is uid ${process.getuid!()} gid ${process.getgid!()} CapEff ${capMask('CapEff').toString(16)}, not what uid/gid/cap ask for`,
      );
    }
    delete process.env[DROPPED_MARKER]; // not passed on to the vassals
    return;
  }
  const eff = capMask('CapEff');
  const setid = (1n << CAP_SETUID) | (1n << CAP_SETGID);
  if ((eff & setid) !== setid)
    throw new PrivilegeError(
      `emperor options uid/gid: changing to uid ${target.uid} gid ${target.gid} needs CAP_SETUID and CAP_SETGID, and this process (uid ${process.getuid!()}) lacks them: start the emperor as root`,
    );
  const missing = target.caps & ~eff;
  if (missing)
    throw new PrivilegeError(
      `emperor option cap asks for ${capNames(missing)}, which this process (uid ${process.getuid!()}) does not hold`,
    );
  // the last thing done as root: a cgroup subtree of the emperor's own, so it can still give each vassal a cgroup
  const why = delegateTree(target.uid, target.gid);
  if (why) logger().warn({ event: 'no-cgroup-delegation', reason: why }, why);
  execDropped(target);
}

/** Re-execs this very process (same pid, so a service manager keeps tracking it) through emperor-setpriv. */
function execDropped(target: Target): never {
  const env = {
    ...process.env,
    [DROPPED_MARKER]: '1',
    EMPEROR_SETPRIV_EXEC: process.execPath,
    EMPEROR_SETPRIV: `${target.uid} ${target.gid} ${target.groups.join(',')} ${target.caps.toString(16)}`,
  };
  return native.execve(setprivExecutable(), [process.argv0, ...process.execArgv, ...process.argv.slice(1)], env);
}

function capNames(mask: bigint): string {
  const names: string[] = [];
  for (let n = 0; n < 64; n++) if (mask & (1n << BigInt(n))) names.push(CAP_NAMES[n] ?? `cap ${n}`);
  return names.join(',');
}

let effectiveCaps: bigint | undefined;

/**
 * Before a spawn: the capability this emperor lacks for it, as an error that says what to do, instead of the
 * kernel's bare EPERM from inside the child. Root with every capability passes at once.
 */
export function checkSpawnPrivileges(
  vassal: string,
  spawn: Pick<native.SpawnOptions, 'namespaces' | 'uid' | 'gid' | 'groups' | 'uidMap' | 'gidMap'>,
): void {
  // the emperor never changes its own credentials once started: read once, not at every spawn
  const eff = (effectiveCaps ??= capMask('CapEff'));
  const has = (cap: bigint) => (eff & (1n << cap)) !== 0n;
  const who = () => `this emperor runs as uid ${process.getuid!()} with capabilities ${capNames(eff) || 'none'}`;
  const ns = spawn.namespaces ?? [];
  if (ns.length && !ns.includes('user') && !has(CAP_SYS_ADMIN)) {
    throw new PrivilegeError(
      `vassal ${vassal} needs CAP_SYS_ADMIN to create its ${ns.join(',')} namespaces and ${who()}: add 'user' to --emperor-use-clone so each vassal gets its own user namespace, or add sys_admin to the emperor's cap option`,
    );
  }
  const idChange = (spawn.uid !== undefined && spawn.uid !== process.geteuid!()) || spawn.uidMap !== undefined;
  if (idChange && !has(CAP_SETUID))
    throw new PrivilegeError(
      `vassal ${vassal} runs as another uid, which needs CAP_SETUID, and ${who()}: add setuid to the emperor's cap option`,
    );
  const gidChange =
    (spawn.gid !== undefined && spawn.gid !== process.getegid!()) || spawn.groups !== undefined || spawn.gidMap !== undefined;
  if (gidChange && !has(CAP_SETGID))
    throw new PrivilegeError(
      `vassal ${vassal} runs with another gid or groups, which needs CAP_SETGID, and ${who()}: add setgid to the emperor's cap option`,
    );
}

/** What the emperor does that a missing capability rules out, in the words of its one line at start. */
export interface LimitedSetup {
  tyrant: boolean;
  /** 'user' is in --emperor-use-clone: native vassals have a user namespace of their own anyway. */
  userNamespaces: boolean;
  /** A cgroup tree of its own (delegated before the drop): stops and helpers go through cgroup.kill. */
  cgroups: boolean;
}

/**
 * What this emperor cannot do for want of a capability (README, "The capability-limited emperor"), each with what to
 * do instead; said once at start. Empty for root with every capability.
 */
export function missingCapabilityNotes(setup: LimitedSetup): string[] {
  const eff = capMask('CapEff');
  const lacks = (cap: bigint) => (eff & (1n << cap)) === 0n;
  const uid = process.getuid!();
  const notes: string[] = [];
  if (lacks(CAP_SYS_ADMIN) && !setup.userNamespaces)
    notes.push(
      `native vassals get their pid and mount namespaces only inside a user namespace of their own (no CAP_SYS_ADMIN): add 'user' to --emperor-use-clone${setup.tyrant ? ", or 'unshare = user' to each native vassal" : ''}; uWSGI vassals are not concerned`,
    );
  if (setup.tyrant && !canBindConfigs())
    notes.push(
      'a uWSGI vassal reads its file by name, not the bytes whose owner was checked (no CAP_SYS_ADMIN and CAP_CHOWN to bind-mount a snapshot of them): the path rules alone protect it',
    );
  if (setup.tyrant && (lacks(CAP_SETUID) || lacks(CAP_SETGID)))
    notes.push('tyrant vassals cannot run as their owners (no CAP_SETUID or CAP_SETGID): every start is refused');
  if (lacks(CAP_KILL) && !setup.cgroups)
    notes.push(
      'without a cgroup tree of its own and without CAP_KILL, a vassal or helper of another uid that ignores its stop cannot be killed: give the emperor a delegated cgroup v2 tree',
    );
  if (uid !== 0 && lacks(CAP_DAC_OVERRIDE))
    notes.push(
      `every vassal source must be readable, and the log and control socket directories writable, by uid ${uid} (no CAP_DAC_OVERRIDE)`,
    );
  return notes;
}

/**
 * Whether this emperor can give a tyrant's uWSGI vassal its verified bytes (src/emperor/config-snapshot.ts): a bind
 * mount (CAP_SYS_ADMIN) of a snapshot that is the owner's (CAP_CHOWN). Root can; the capability-limited emperor
 * usually cannot.
 */
export function canBindConfigs(): boolean {
  const need = (1n << CAP_SYS_ADMIN) | (1n << BigInt(capabilityNumber('chown')));
  return ((effectiveCaps ??= capMask('CapEff')) & need) === need;
}

/**
 * The ambient capabilities this process holds (a capability-limited emperor's setuid, setgid), by number: the
 * config readers keep them, to start their agents as each tenant.
 */
export function heldAmbientCaps(): number[] {
  const amb = capMask('CapAmb');
  const out: number[] = [];
  for (let n = 0; n < 64; n++) if (amb & (1n << BigInt(n))) out.push(n);
  return out;
}
