// The jail plan: the ordered native steps of one native vassal, each remembering the config line it came from.

export interface StepOrigin {
  file: string;
  line: number;
  option: string;
}

export interface PlanStep {
  /** The init's op ('exec', 'mount', 'pivot_root', 'creds', 'listen', 'app', ...); see native/init/steps.cc. */
  op: string;
  /** Plain values only: flag words, capability names and addresses are already numbers/parts. */
  args: string[];
  origin: StepOrigin;
  /** A failure stops the vassal (uWSGI's fatal phases); otherwise it is only reported. */
  fatal: boolean;
  /** Kept by the init and run when the vassal stops (the *-atexit phase). */
  atexit?: boolean;
  /** uWSGI's '!' hooks: the arguments are not shown. */
  private?: boolean;
}

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
