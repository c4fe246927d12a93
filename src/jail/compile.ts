// Compiles a native vassal's resolved options into its jail plan, in uWSGI's order (reference/uwsgi.md §9.1):
// env, asap, shared sockets, pre-jail, [privileged patch], in-jail, unshare, post-jail, chroot, pivot_root,
// unshare2, as-root, sockets, chdir, uid/gid/groups, cap, as-user, mountpoint checks, [unprivileged patch];
// as-user-atexit steps are kept by the init for the stop.
import { ConfigError } from '../config/errors';
import type { ConfigOption, ResolvedConfig } from '../config/types';
import { capabilityNumber } from '../tables/capabilities';
import { configFlagOf } from '../tables/formats';
import { cloneFlagOf, UNSHARE_WORDS } from '../tables/namespaces';
import { execStep, hookStep, mountStep, type StepDraft, umountStep } from './hooks';
import type { JailPlan, PlanStep } from './plan';

const PRIVILEGED = ['privileged-binary-patch', 'privileged-binary-patch-arg'];
const UNPRIVILEGED = ['unprivileged-binary-patch', 'unprivileged-binary-patch-arg'];

export function isNativeVassal(cfg: ResolvedConfig): boolean {
  return cfg.options.some((o) => PRIVILEGED.includes(o.key) || UNPRIVILEGED.includes(o.key));
}

const MOUNTPOINT_CHECK = ['mountpoint-check', 'check-mountpoint', 'check-mount', 'mount-check'];
// Phases that happen inside a uWSGI master or its workers: a native app has neither, so they would never run.
const UWSGI_PROCESS_PHASES =
  /^(?:hook|exec|call|mount|umount)-(pre-app|post-app|post-fork|as-mule|as-gateway|accepting1?(?:-once)?|master-start|emperor-(?:start|stop|reload|lost))$/;
const SOCKETS = ['socket', 'uwsgi-socket', 'http-socket'];

class PlanBuilder {
  readonly steps: PlanStep[] = [];

  constructor(
    private readonly options: ConfigOption[],
    readonly shell: string,
  ) {}

  all(...keys: string[]): ConfigOption[] {
    return this.options.filter((o) => keys.includes(o.key));
  }

  last(key: string): ConfigOption | undefined {
    return this.all(key).pop();
  }

  add(o: ConfigOption, draft: StepDraft, fatal = true, atexit = false): void {
    this.steps.push({ ...draft, origin: { file: o.file, line: o.line, option: o.key }, fatal, ...(atexit ? { atexit } : {}) });
  }

  /** One hook phase in uWSGI's fixed order: hook-, mount-, umount-, exec-, then call- (refused). */
  phase(name: string, fatal = true, atexit = false): void {
    for (const o of this.all(`hook-${name}`)) this.add(o, hookStep(o.value, origin(o), this.shell), fatal, atexit);
    for (const o of this.all(`mount-${name}`)) this.add(o, mountStep(o.value, origin(o)), fatal, atexit);
    for (const o of this.all(`umount-${name}`)) this.add(o, umountStep(o.value, origin(o)), fatal, atexit);
    for (const o of this.all(`exec-${name}`)) this.add(o, execStep(this.shell, o.value), fatal, atexit);
    for (const o of this.all(`call-${name}`)) {
      throw new ConfigError(
        o.file,
        o.line,
        'calls a C symbol of the uWSGI process (dlsym); a native vassal has no such process: use exec-' + name,
        o.key,
      );
    }
  }

  unshare(key: string): boolean {
    let any = false;
    for (const o of this.all(key)) {
      let flags = 0;
      for (const name of o.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const f = cloneFlagOf(name);
        if (f === undefined) throw new ConfigError(o.file, o.line, `unknown namespace '${name}' (${UNSHARE_WORDS.join(', ')})`, o.key);
        flags |= f;
      }
      this.add(o, { op: 'unshare', args: [String(flags >>> 0)] });
      any = true;
    }
    return any;
  }
}

const DEFAULT_SHELL = '/bin/sh';

function origin(o: ConfigOption): { file: string; line: number; option: string } {
  return { file: o.file, line: o.line, option: o.key };
}

/**
 * The first --binsh the vassal may execute, as uWSGI picks it; /bin/sh by default. The check is the caller's (the
 * config reader asks as the vassal), so compiling stays free of file access.
 */
export function pickShell(options: readonly ConfigOption[], isExecutable: (file: string) => boolean): string {
  for (const o of options) if (o.key === 'binsh' && isExecutable(o.value)) return o.value;
  return DEFAULT_SHELL;
}

/** "host:port", ":port", "[v6]:port", or a unix path (with '@' for the abstract namespace). */
function listenStep(o: ConfigOption): StepDraft {
  const v = o.value.trim();
  const name = o.key === 'uwsgi-socket' ? 'socket' : o.key;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/@][^:]*)?):(\d+)$/.exec(v);
  if (!m) {
    if (v === '' || /:\d*$/.test(v)) throw new ConfigError(o.file, o.line, `invalid socket address '${v}'`, o.key);
    return { op: 'listen', args: ['unix', v, '0', name] };
  }
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(o.file, o.line, `port ${port} out of range`, o.key);
  if (m[1] !== undefined) return { op: 'listen', args: ['inet6', m[1], String(port), name] };
  const host = m[2] === undefined || m[2] === '' || m[2] === '0' ? '0.0.0.0' : m[2] === 'localhost' ? '127.0.0.1' : m[2];
  return { op: 'listen', args: ['inet', host, String(port), name] };
}

/**
 * The first step of a first run when the emperor hands the init a listening socket (an on-demand vassal's) as fd:
 * it joins the sockets the app gets, first, so the app finds it at fd 3 (LISTEN_FDS).
 */
export function inheritStep(fd: number, file: string): PlanStep {
  return { op: 'inherit', args: [String(fd), 'on-demand'], origin: { file, line: 0, option: 'emperor-on-demand' }, fatal: true };
}

/** What /bin/sh would treat as a plain command: words of these characters only (no quote, expansion, glob, ~). */
const PLAIN_WORD = /^[A-Za-z0-9_./:,@%+=-]+$/;
/** Shell reserved words and dash's builtins: a command starting with one needs the shell. */
const SHELL_WORDS = new Set(
  (
    '. : [ alias bg break case cd chdir command continue do done echo elif else esac eval exec exit export false fc fg fi for ' +
    'function getopts hash if in jobs kill local printf pwd read readonly return select set shift test then time times trap ' +
    'true type ulimit umask unalias unset until wait while'
  ).split(' '),
);

/**
 * The argv /bin/sh -c would exec for a plain command ("exec app --port 80", "app --port 80"), or undefined when the
 * shell has work to do. Skipping the shell, as Ruby's and Perl's exec do, saves one exec per start: a quarter of the
 * CPU of bringing up thousands of small vassals (bench/scale.ts). The init exports PWD as the shell would.
 */
export function plainCommand(command: string): [string, ...string[]] | undefined {
  const words = command.trim().split(/[ \t]+/);
  if (words[0] === 'exec') words.shift();
  const [file, ...rest] = words;
  if (file === undefined || !words.every((w) => PLAIN_WORD.test(w))) return undefined;
  if (SHELL_WORDS.has(file) || file.includes('=')) return undefined;
  return [file, ...rest];
}

function appStep(o: ConfigOption, shell: string, cfg: ResolvedConfig): StepDraft {
  if (o.value.trim() === '') throw new ConfigError(o.file, o.line, 'needs a command', o.key);
  if (o.key.endsWith('-arg')) {
    // a --binsh the user chose is theirs to run
    const plain = shell === DEFAULT_SHELL ? plainCommand(o.value) : undefined;
    return { op: 'app', args: plain ?? [shell, '-c', o.value] };
  }
  // uWSGI execvp()s the command with its own original argv: the way the emperor called it on this file.
  return { op: 'app', args: [o.value.trim(), configFlagOf(cfg.file), cfg.spec] };
}

/**
 * The jail plan of a native vassal. firstRun=false gives the reload plan: steps uWSGI skips on a reload (pre-jail,
 * unshare, chroot, pivot_root, socket binding) are left out, their effects stay in the init; the caller loads the config with isReload for
 * if-reload/if-not-reload. Throws ConfigError naming file, line and option.
 */
export function compilePlan(cfg: ResolvedConfig, opts: { vassal: string; firstRun: boolean; shell: string }): JailPlan {
  const b = new PlanBuilder(cfg.options, opts.shell);
  const first = opts.firstRun;
  const patches = b.all(...PRIVILEGED, ...UNPRIVILEGED);
  if (patches.length === 0)
    throw new ConfigError(cfg.file, 0, 'not a native vassal: no privileged-binary-patch[-arg] or unprivileged-binary-patch[-arg]');
  if (patches.length > 1) {
    const o = patches[1];
    throw new ConfigError(
      o.file,
      o.line,
      `a vassal runs one program; already given by ${patches[0].key} at line ${patches[0].line}`,
      o.key,
    );
  }
  const patch = patches[0];
  for (const o of cfg.options) {
    const m = UWSGI_PROCESS_PHASES.exec(o.key);
    if (m)
      throw new ConfigError(
        o.file,
        o.line,
        `the ${m[1]} phase happens inside a uWSGI master or worker; a native vassal's app has none, so it would never run`,
        o.key,
      );
  }

  for (const o of b.all('env')) {
    const eq = o.value.indexOf('=');
    if (eq <= 0) throw new ConfigError(o.file, o.line, `needs KEY=VALUE, got '${o.value}'`, o.key);
    b.add(o, { op: 'putenv', args: [o.value.slice(0, eq), o.value.slice(eq + 1)] });
  }
  b.phase('asap');
  if (first) for (const o of b.all('shared-socket')) b.add(o, listenStep(o));
  if (first) b.phase('pre-jail');
  if (PRIVILEGED.includes(patch.key)) {
    // uWSGI execs the privileged patch right here, as root: later phases never run for it.
    b.add(patch, appStep(patch, b.shell, cfg));
    return { vassal: opts.vassal, firstRun: first, steps: b.steps };
  }
  b.phase('in-jail');
  const jailed = first && b.unshare('unshare');
  if (jailed || b.all('jailed').some((o) => o.value !== 'false' && o.value !== '0')) b.phase('post-jail');
  if (first) {
    for (const o of b.all('chroot')) b.add(o, { op: 'chroot', args: [o.value] });
    for (const o of b.all('pivot_root', 'pivot-root')) {
      const w = o.value.trim().split(/\s+/);
      if (w.length !== 2) throw new ConfigError(o.file, o.line, `needs "NEW_ROOT PUT_OLD", got '${o.value}'`, o.key);
      b.add(o, { op: 'pivot_root', args: [w[0], w[1]] });
    }
    b.unshare('unshare2');
  }
  b.phase('as-root');
  if (first) for (const o of b.all(...SOCKETS)) b.add(o, listenStep(o));
  for (const o of b.all('chdir')) b.add(o, { op: 'chdir', args: [o.value] });

  const uid = b.last('uid');
  const gid = b.last('gid');
  const addGids = b.all('add-gid');
  if (uid || gid || addGids.length) {
    const noInit = b.all('no-initgroups').some((o) => o.value !== 'false' && o.value !== '0');
    const at = uid ?? gid ?? addGids[0];
    b.add(at, { op: 'creds', args: [uid?.value ?? '', gid?.value ?? '', addGids.map((o) => o.value).join(','), noInit ? '0' : '1'] });
  }
  const caps = b.all('cap');
  // uWSGI sets caps on the first run only, then keeps them across its re-exec; the init starts a fresh app on a
  // reload, so the reload plan carries them too.
  if (caps.length) {
    let mask = 0n;
    for (const o of caps) {
      for (const name of o.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        try {
          mask |= 1n << BigInt(capabilityNumber(name));
        } catch (e) {
          throw new ConfigError(o.file, o.line, (e as Error).message, o.key);
        }
      }
    }
    if (mask === 0n) throw new ConfigError(caps[0].file, caps[0].line, 'empty capabilities mask', caps[0].key);
    b.add(caps[caps.length - 1], { op: 'cap', args: [mask.toString()] });
  }
  b.phase('as-user');
  const interval = b.last('check-interval');
  if (interval) {
    const seconds = Number(interval.value);
    if (!(seconds > 0))
      throw new ConfigError(interval.file, interval.line, `needs a positive number of seconds, got '${interval.value}'`, interval.key);
    b.add(interval, { op: 'check-interval', args: [String(Math.max(1, Math.round(seconds * 1000)))] });
  }
  for (const o of b.all(...MOUNTPOINT_CHECK)) b.add(o, { op: 'mountpoint-check', args: [o.value] });
  b.add(patch, appStep(patch, b.shell, cfg));
  b.phase('as-user-atexit', false, true);
  return { vassal: opts.vassal, firstRun: first, steps: b.steps };
}
