// Tyrant mode (docs/UWSGI.md §5): every vassal runs as its config file's owner, and a root-owned file is refused.
// A tenant's file never buys more than its owner has on the host: its own uid/gid/cap options cannot raise it, its
// as-root work runs only as root of its own user namespace (mapped to the owner), and no_new_privs keeps setuid
// binaries from giving it more.
import { ConfigError } from '../config';
import { fileIdentity, type FileOwner } from '../file-identity';
import type { ReadResult } from '../reader/pool';
import type { VassalSource } from '../monitors/types';
import type { Namespace, SpawnOptions } from '../native';
import { CLONE_NEWUSER, cloneFlagOf } from '../tables/namespaces';
import { gidOf, supplementaryGroups, uidOf } from '../tables/passwd';
import type { JailPlan, PlanStep } from '../jail';

/** The credentials a vassal is spawned with (nothing outside tyrant mode: it inherits the emperor's). */
export interface Credentials {
  uid?: number;
  gid?: number;
  groups?: number[];
}

export type CredentialsOrRefusal = Credentials | { refused: string };

/** A tyrant vassal's owner: what its spawn and its plan are checked against. */
export interface Owner {
  uid: number;
  gid: number;
  groups: number[];
}

export function tyrantCredentials(src: VassalSource): CredentialsOrRefusal {
  if (src.uid === 0 || src.gid === 0) {
    return {
      refused: `[emperor-tyrant] invalid permissions for vassal ${src.name}: ${src.path} is owned by uid ${src.uid} gid ${src.gid}, and a tyrant never runs a vassal as root`,
    };
  }
  return { uid: src.uid, gid: src.gid, groups: supplementaryGroups(src.uid, src.gid) };
}

/** The environments a vassal may get: the emperor's own (rewritten), and in tyrant mode one of its owner's. */
export interface VassalEnvironments {
  /** Every vassal's outside tyrant mode (and inside, with --emperor-tyrant-inherit-env). */
  env: Record<string, string>;
  /** A tyrant vassal's own clean one (src/config/vassal-env.ts), for its owner's uid. */
  ownerEnv?: (uid: number) => Record<string, string>;
}

/** The environment a vassal runs with, and so every agent working for it (its @(exec://), its on-demand command). */
export function environmentOf(ctx: VassalEnvironments, owner: { uid: number } | null | undefined): Record<string, string> {
  return owner && ctx.ownerEnv ? ctx.ownerEnv(owner.uid) : ctx.env;
}

/**
 * A config read as a tyrant takes it: the result to run or show as before, `refused` when the vassal file is no one's
 * a tyrant may run it as, or `owner` when its one open shows another owner than it was read as (an owner change:
 * it is never run as the guessed one). The facts are the config reader's answer, judged here again, on the trusted
 * side; a reader that says nothing of them, or refuses what they allow, is not believed.
 */
export type TyrantRead = ReadResult | { refused: string } | { owner: FileOwner };

export function judgeRead(r: ReadResult, spec: string, readAs: Owner | undefined, nofollow: boolean): TyrantRead {
  if (!readAs) return r;
  const broken = (why: string) => ({ error: new ConfigError(spec, 0, `the config reader ${why}`, undefined, 'EAGENT') });
  if (!r.opened) {
    // nothing to judge: the read failed before the open was done (a missing file, a timeout), or the reader is broken
    if ('error' in r && r.error.code !== 'EOWNER' && r.error.code !== 'EIDENTITY') return r;
    return broken('did not say whose the file is');
  }
  const verdict = fileIdentity(r.opened, nofollow);
  if ('refused' in verdict) return verdict;
  if (verdict.owner.uid !== readAs.uid || verdict.owner.gid !== readAs.gid) return verdict;
  if ('error' in r && (r.error.code === 'EOWNER' || r.error.code === 'EIDENTITY'))
    return broken(`refused a file its own facts allow (${r.error.reason})`);
  return r;
}

export function ownerOf(creds: Credentials): Owner | undefined {
  return creds.uid === undefined || creds.gid === undefined
    ? undefined
    : { uid: creds.uid, gid: creds.gid, groups: creds.groups ?? [creds.gid] };
}

// Options whose work uWSGI does as root (docs/UWSGI.md §9.5: the phases before the privilege drop, the jail itself).
const AS_ROOT_PHASE = /^(?:hook|exec|mount|umount)-(?:asap|pre-jail|in-jail|post-jail|as-root)$/;
const AS_ROOT_OPTIONS = new Set([
  'unshare',
  'unshare2',
  'pivot_root',
  'pivot-root',
  'chroot',
  'privileged-binary-patch',
  'privileged-binary-patch-arg',
]);

export function isAsRootStep(step: PlanStep): boolean {
  return AS_ROOT_PHASE.test(step.origin.option) || AS_ROOT_OPTIONS.has(step.origin.option);
}

/** Whether a tyrant native vassal gets its own user namespace: 'user' in emperor-use-clone or in its unshare. */
export function wantsUserNamespace(namespaces: Namespace[], plan: JailPlan): boolean {
  return namespaces.includes('user') || plan.steps.some((s) => s.op === 'unshare' && (Number(s.args[0]) & CLONE_NEWUSER) !== 0);
}

function refuse(step: PlanStep, what: string): never {
  throw new ConfigError(step.origin.file, step.origin.line, what, step.origin.option);
}

/**
 * The plan a tyrant runs for a native vassal. The init already runs as the owner (or as root of a user namespace
 * mapped to the owner), so:
 * - uid/gid/add-gid are accepted only when they name the owner, its group or one of its groups, and then dropped;
 * - cap is refused: a tenant's vassal holds no capability on the host;
 * - as-root steps without a user namespace are refused (they would need host root);
 * - with a user namespace, 'user' is dropped from the vassal's unshare: the init already is in its own one.
 * Throws ConfigError naming file, line and option.
 */
export function tyrantPlan(plan: JailPlan, owner: Owner, userns: boolean): JailPlan {
  const steps: PlanStep[] = [];
  for (const step of plan.steps) {
    if (step.op === 'creds') {
      checkCredsStep(step, owner);
      continue;
    }
    if (step.op === 'cap') {
      refuse(
        step,
        `a tyrant vassal holds no capabilities on the host (it runs as its file's owner, uid ${owner.uid}); with 'user' in emperor-use-clone it is root with every capability inside its own user namespace instead`,
      );
    }
    if (!userns && isAsRootStep(step)) {
      refuse(
        step,
        `runs as root, and a tyrant never runs a tenant's file as host root: add 'user' to --emperor-use-clone (or to this vassal's unshare) so the vassal is root only inside its own user namespace, mapped to its owner uid ${owner.uid}, or remove this option`,
      );
    }
    if (userns && step.op === 'unshare') {
      const flags = (Number(step.args[0]) & ~CLONE_NEWUSER) >>> 0;
      if (flags !== 0) steps.push({ ...step, args: [String(flags)] });
      continue;
    }
    steps.push(step);
  }
  return { ...plan, steps };
}

function checkCredsStep(step: PlanStep, owner: Owner): void {
  const [uid, gid, addGids] = step.args;
  if (uid && uidOf(uid) !== owner.uid) {
    refuse(
      step,
      `uid '${uid}' in tyrant mode: the vassal runs as its file's owner (uid ${owner.uid}) and cannot choose another user; remove the option or name the owner`,
    );
  }
  if (gid && gidOf(gid) !== owner.gid) {
    refuse(
      step,
      `gid '${gid}' in tyrant mode: the vassal runs with its file's group (gid ${owner.gid}); remove the option or name that group`,
    );
  }
  for (const g of (addGids ?? '').split(',').filter(Boolean)) {
    const id = gidOf(g);
    if (id === undefined || !owner.groups.includes(id)) {
      refuse(step, `add-gid '${g}' in tyrant mode: the vassal gets its owner's groups (${owner.groups.join(',')}) and no others`);
    }
  }
}

/**
 * Spawn options of a tyrant vassal: the owner's uid, gid and groups, set by the addon before exec, and no_new_privs
 * so that no setuid binary inside raises it. Without a user namespace the addon makes the vassal's namespaces.
 * With one, emperor-init makes them itself, the user namespace first ("deny" to setgroups, its own ids mapped to 0:
 * the owner's groups are kept, negative ones included; native/init/userns.cc says why), then runs the vassal (a
 * native one's init) or execs it (uWSGI): the addon makes none, and initNamespaceArgs() tells the init which.
 */
export function tyrantSpawnOptions(owner: Owner, namespaces: Namespace[], userns: boolean): Partial<SpawnOptions> {
  return { namespaces: userns ? [] : namespaces, uid: owner.uid, gid: owner.gid, groups: owner.groups, noNewPrivs: true };
}

/**
 * emperor-init's arguments for the namespaces it makes itself (a tyrant's vassal with a user namespace): the user
 * namespace, then the others inside it, with the mount propagation the addon would have applied.
 */
export function initNamespaceArgs(namespaces: Namespace[], propagation: 'private' | 'slave'): string[] {
  let flags = 0;
  for (const ns of new Set<Namespace>([...namespaces, 'user'])) flags |= cloneFlagOf(ns) ?? 0;
  return [`--userns=${flags >>> 0}`, `--propagation=${propagation}`];
}
