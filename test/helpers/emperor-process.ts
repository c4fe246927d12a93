// Runs a real emperor (node dist/src/cli.js) as a child process for end-to-end tests: captures its JSON log lines
// (its vassals' output among them, as events), tags its environment so every process of its vassals can be found in
// /proc, and cleans everything up.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { findCgroup2Mount, ownCgroupPath } from '../../src/cgroup/tree';
import { fetchStats } from '../../src/ops';
import { until, within } from './wait';

const CLI = path.resolve(__dirname, '../../src/cli.js');
/** In the environment of the emperor and of every process it starts. */
const TAG_VARIABLE = 'EMPEROR_TEST_TAG';

export interface LogEvent {
  level: number;
  msg: string;
  event?: string;
  vassal?: string;
  [k: string]: unknown;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export class EmperorProcess {
  readonly tag = randomUUID();
  readonly logs: LogEvent[] = [];
  readonly child: ChildProcess;
  private readonly exit: Promise<Exit>;
  /** Set once the process has exited. */
  private exitStatus?: Exit;
  /** Settles when the process has exited and its stdout and stderr are closed. */
  private readonly closed: Promise<void>;
  private stderr = '';
  private waiters: Array<() => void> = [];

  /**
   * wrap: a command that execs the emperor as its last arguments (prlimit, setpriv): the pid stays the emperor's. The
   * tag is kept in tyrant vassals' clean environments too (--emperor-tyrant-keep-env), so that they can be found.
   */
  constructor(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; wrap?: string[] } = {}) {
    const argv = [...(opts.wrap ?? []), process.execPath, CLI, ...args, '--emperor-tyrant-keep-env', TAG_VARIABLE];
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, [TAG_VARIABLE]: this.tag, EMPEROR_LOG_FORMAT: 'json', EMPEROR_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.logs.push(JSON.parse(line) as LogEvent);
        } catch {
          /* not one JSON event: whatever else the emperor prints */
        }
      }
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exit = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.wake();
        resolve({ code, signal });
      }),
    );
    this.closed = new Promise((resolve) => this.child.on('close', () => resolve()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stderrText(): string {
    return this.stderr;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** What a vassal has printed so far (its stdout and stderr lines, as the emperor logged them), one line each. */
  output(vassal: string): string {
    return this.events('output', vassal)
      .map((e) => `${e.msg}\n`)
      .join('');
  }

  events(event: string, vassal?: string): LogEvent[] {
    return this.logs.filter((l) => l.event === event && (vassal === undefined || l.vassal === vassal));
  }

  private tail(): string {
    return `last log lines:\n${this.logs
      .slice(-15)
      .map((l) => JSON.stringify(l))
      .join('\n')}\nstderr: ${this.stderr}`;
  }

  /**
   * Resolves when pred() holds on the log. Rejects at once when the emperor has exited without it (with its exit
   * status), else after timeoutMs, with the log tail and stderr to explain why.
   */
  async waitLog(pred: (logs: LogEvent[]) => boolean, what: string, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.logs)) {
      if (this.exitStatus) {
        // what it wrote just before exiting may still be in the pipe (a vassal holding the pipe open keeps 'close' away)
        await Promise.race([this.closed, new Promise((r) => setTimeout(r, 200))]);
        if (pred(this.logs)) return;
        const { code, signal } = this.exitStatus;
        throw new Error(`the emperor (pid ${this.pid}) exited with ${signal ?? `code ${code}`} before ${what}; ${this.tail()}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${this.tail()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /**
   * Its exit status once it has exited. The default bound outlasts the default --reload-mercy (30 s), after which
   * Ragnarok SIGKILLs whatever vassal is still alive and the emperor exits.
   */
  waitExit(timeoutMs = 35000): Promise<Exit> {
    return within(this.exit, timeoutMs, `the emperor (pid ${this.pid}) to exit`).catch((e: Error) => {
      throw new Error(`${e.message}; ${this.tail()}`);
    });
  }

  waitEvent(event: string, vassal?: string, count = 1, timeoutMs?: number): Promise<void> {
    return this.waitLog(
      (l) => l.filter((x) => x.event === event && (vassal === undefined || x.vassal === vassal)).length >= count,
      `${count}x ${event}${vassal ? ` of ${vassal}` : ''}`,
      timeoutMs,
    );
  }

  /**
   * Every live process carrying this emperor's tag in its environment: its vassals and their descendants, and its
   * own config readers and agents (they run with the vassal environment).
   */
  taggedPids(): number[] {
    return taggedPids(this.tag).filter((p) => p !== this.pid);
  }

  /** The tagged processes that belong to vassals: not the emperor's config readers and agents. */
  vassalPids(): number[] {
    return this.taggedPids().filter((p) => !EMPEROR_HELPERS.has(argv0(p)));
  }

  /** SIGKILL the emperor and everything tagged, then wait for it and remove its cgroup directory. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.waitExit(10000);
    for (const p of this.taggedPids()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // nor its runtime directory (src/emperor/runtime-dir.ts: a tyrant's snapshots, a store's files)
    fs.rmSync(`/run/emperor.${this.pid}`, { recursive: true, force: true });
    // a SIGKILLed emperor cannot remove its cgroup directory (the next emperor's sweep would): the test does
    const mount = findCgroup2Mount();
    const own = ownCgroupPath();
    if (mount && own !== undefined) {
      const base = path.join(mount, own, `emperor.${this.pid}`);
      await until(
        () => {
          for (const d of fs.existsSync(base) ? fs.readdirSync(base, { withFileTypes: true }) : []) {
            if (d.isDirectory()) fs.rmdirSync(path.join(base, d.name));
          }
          if (fs.existsSync(base)) fs.rmdirSync(base);
          return true;
        },
        `the removal of ${base}`,
        5000,
      ).catch(() => undefined);
    }
  }
}

/** argv[0] of the processes the emperor runs for itself (src/reader/pool.ts, src/agent/process.ts). */
const EMPEROR_HELPERS = new Set(['emperor-reader', 'emperor-agent']);

function argv0(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return '';
  }
}

export function taggedPids(tag: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/environ`, 'latin1').includes(`${TAG_VARIABLE}=${tag}`)) {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        if (!/\) Z /.test(stat)) out.push(Number(d));
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** A fresh directory, world-readable: vassals that drop to nobody must read their files in it. */
export function tmpdir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `emperor-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export async function httpGet(port: number, host = '127.0.0.1', urlPath = '/'): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${host}:${port}${urlPath}`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** The command name of a process ('' once it is gone). */
export function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * SIGKILLs the FUSE daemon `daemon` running inside the only vassal, then waits for the fresh running instance the
 * emperor starts in its place (mountpoint-check sees the dead mount) and returns its stats.
 */
export async function killDaemonAndRespawn(
  emperor: EmperorProcess,
  daemon: string,
  stats: string,
  oldPid: number,
): Promise<Record<string, number | string>> {
  const pid = emperor.vassalPids().find((p) => comm(p) === daemon);
  assert.ok(pid, `${daemon} runs inside the vassal`);
  process.kill(pid, 'SIGKILL');
  return until(async () => {
    const v = (await fetchStats(stats)).vassals[0];
    return v && v.pid > 0 && v.pid !== oldPid && v.state === 'running' ? v : undefined;
  }, `a fresh instance after ${daemon} died`);
}

/** Host pids of the live children of pid (a vassal init's app, seen from outside its pid namespace). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[1]) === pid && f[0] !== 'Z') out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * The host pid of a native vassal's pid 1 (its init), from the pid the emperor spawned: that process itself, or, for
 * a tyrant's vassal with a user namespace, the child it made that namespace's pid 1 with (native/init/userns.cc).
 */
export function vassalInit(spawned: number): number {
  const pidOne = (pid: number) => /^NSpid:.*\s1$/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (pidOne(spawned)) return spawned;
  const inner = childrenOf(spawned).filter(pidOne);
  if (inner.length !== 1) throw new Error(`pid ${spawned} is no vassal's pid 1 and has ${inner.length} child(ren) that are`);
  return inner[0];
}
