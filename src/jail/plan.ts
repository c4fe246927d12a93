// The jail plan: the ordered native steps of one native vassal, each remembering the config line it came from, and
// the vocabulary of those steps: every op the vassal init knows, with its arguments. native/init/steps.cc keeps the
// same table ({name, arity, handler}); test/jail.vocabulary.test.ts reads both and fails on any difference.

export interface StepOrigin {
  file: string;
  line: number;
  option: string;
}

/**
 * The libc calls `call:SYMBOL ARG` and `callret:SYMBOL ARG` may name in a native vassal: uWSGI finds any symbol of its
 * own process with dlsym and calls it with the one string; the vassal init (a static program, no dlsym) has this
 * table of the single-string calls a jail needs (native/init/steps.cc kLibcCalls).
 */
export const LIBC_CALLS = ['chdir', 'chroot', 'putenv', 'unsetenv', 'unlink', 'rmdir', 'umount'] as const;
export type LibcCall = (typeof LIBC_CALLS)[number];

/** '1' or '0' on the wire. */
type Flag = '0' | '1';

/**
 * Every op and its arguments, in order, as the init reads them. Plain values only: flag words, capability names and
 * addresses are already numbers and parts (decimal strings on the wire). A tuple with a rest element is an argv: at
 * least its first word.
 */
export interface PlanOpArgs {
  /** A command, waited for; a non-zero status fails the step. */
  exec: [file: string, ...argv: string[]];
  /** The same, and its status is only reported. */
  safeexec: [file: string, ...argv: string[]];
  /** The vassal's program, started once every other step has run. */
  app: [file: string, ...argv: string[]];
  print: [text: string];
  putenv: [name: string, value: string];
  mount: [fstype: string, source: string, target: string, flags: string, data: string];
  umount: [target: string, flags: string, recursive: Flag];
  /** callret: (check '1') fails the step on a non-zero return; call: only reports it. */
  call: [symbol: LibcCall, arg: string, check: Flag];
  pivot_root: [newRoot: string, putOld: string];
  chroot: [dir: string];
  hostname: [name: string];
  unshare: [cloneFlags: string];
  /** The identity every later command and the app run with; names are looked up in the jail's own files. */
  creds: [user: string, group: string, addGids: string, initgroups: Flag];
  cap: [mask: string];
  listen: [family: 'inet' | 'inet6' | 'unix', address: string, port: string, name: string];
  /** A listening socket the emperor bound (on demand), handed over like the ones bound here. */
  inherit: [fd: string, name: string];
  'mountpoint-check': [path: string];
  'check-interval': [ms: string];
  chdir: [path: string];
  mkdir: [path: string];
  unlink: [path: string];
  create: [path: string];
  sticky: [path: string];
  write: [path: string, text: string];
  append: [path: string, text: string];
  writefifo: [path: string, text: string];
  chmod: [path: string, mode: string];
  chown: [path: string, user: string, group: string];
}

export type PlanOp = keyof PlanOpArgs;

/** An op with exactly its arguments: a step with an unknown op or the wrong number of arguments does not compile. */
export type StepAction = { [K in PlanOp]: { op: K; args: PlanOpArgs[K] } }[PlanOp];

/** 'argv' for a tuple with a rest element (one word at least), else its length. */
type ArityOf<T extends readonly unknown[]> = number extends T['length'] ? 'argv' : T['length'];

/** Each op's arity, derived from PlanOpArgs by the compiler: the table the init's mirrors. */
export const PLAN_OP_ARITY: { readonly [K in PlanOp]: ArityOf<PlanOpArgs[K]> } = {
  exec: 'argv',
  safeexec: 'argv',
  app: 'argv',
  print: 1,
  putenv: 2,
  mount: 5,
  umount: 3,
  call: 3,
  pivot_root: 2,
  chroot: 1,
  hostname: 1,
  unshare: 1,
  creds: 4,
  cap: 1,
  listen: 4,
  inherit: 2,
  'mountpoint-check': 1,
  'check-interval': 1,
  chdir: 1,
  mkdir: 1,
  unlink: 1,
  create: 1,
  sticky: 1,
  write: 2,
  append: 2,
  writefifo: 2,
  chmod: 2,
  chown: 3,
};

export type PlanStep = StepAction & {
  origin: StepOrigin;
  /** A failure stops the vassal (uWSGI's fatal phases); otherwise it is only reported. */
  fatal: boolean;
  /** Kept by the init and run when the vassal stops (the *-atexit phase). */
  atexit?: boolean;
  /** uWSGI's '!' hooks: the arguments are not shown. */
  private?: boolean;
};

export interface JailPlan {
  vassal: string;
  firstRun: boolean;
  steps: PlanStep[];
}

/** One line per step: "  3  /etc/v/app.ini:12  exec-as-root  exec /bin/sh -c 'mkdir -p /x'". */
export function formatPlan(plan: JailPlan): string {
  const lines = [`jail plan of vassal ${plan.vassal} (${plan.firstRun ? 'first run' : 'reload'}):`];
  plan.steps.forEach((s, i) => {
    const where = s.origin.line > 0 ? `${s.origin.file}:${s.origin.line}` : s.origin.file;
    const args = s.private ? '--- PRIVATE HOOK ---' : s.args.map(quoteArg).join(' ');
    const tags = [s.atexit ? 'at exit' : '', s.fatal ? '' : 'non-fatal'].filter(Boolean).join(', ');
    lines.push(`${String(i).padStart(3)}  ${where}  ${s.origin.option}  ${s.op} ${args}${tags ? `  (${tags})` : ''}`);
  });
  return lines.join('\n') + '\n';
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
