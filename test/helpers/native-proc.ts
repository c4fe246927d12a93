// Shared helpers for tests that start processes through the addon and look at them in /proc.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { closeFd, socketpair, spawn, type Child, type ExitInfo, type NativeError, type SpawnOptions } from '../../src/native';
import { within } from './wait';

export interface Run {
  child: Child;
  /** How the child ended; rejects if it has not within timeoutMs. */
  waitExit(timeoutMs?: number): Promise<ExitInfo>;
}

export function start(opts: SpawnOptions): Run {
  let resolve!: (info: ExitInfo) => void;
  const exit = new Promise<ExitInfo>((r) => (resolve = r));
  const child = spawn(opts, resolve);
  return { child, waitExit: (timeoutMs = 10000) => within(exit, timeoutMs, `${opts.argv.join(' ')} (pid ${child.pid}) to exit`) };
}

/** Starts opts and waits (bounded) until it has exec'd; a setup failure rejects. */
export async function started(opts: SpawnOptions): Promise<Run> {
  const run = start(opts);
  try {
    await within(run.child.started, 5000, `pid ${run.child.pid} to exec ${opts.file}`);
  } catch (err) {
    killIfAlive(run.child.pid);
    throw err;
  }
  return run;
}

/** The setup failure of opts (bounded), and the exit that follows it. */
export async function setupFailure(opts: SpawnOptions): Promise<{ error: NativeError; exit: ExitInfo }> {
  const run = start(opts);
  const outcome = await within(
    run.child.started.then(
      () => undefined,
      (e: NativeError) => e,
    ),
    5000,
    `the setup outcome of pid ${run.child.pid}`,
  );
  if (outcome === undefined) {
    run.child.kill('SIGKILL');
    await run.waitExit(5000);
    throw new Error(`the setup of ${opts.file} did not fail`);
  }
  return { error: outcome, exit: await run.waitExit(5000) };
}

/**
 * Runs opts to completion with its stdout on a socketpair; returns what it printed and how it ended. A child that
 * has not exited and closed its stdout within timeoutMs is SIGKILLed, and the error shows what it printed.
 */
export async function capture(opts: Omit<SpawnOptions, 'fds'>, timeoutMs = 10000): Promise<{ stdout: string; exit: ExitInfo }> {
  const [mine, theirs] = socketpair();
  let run: Run;
  try {
    run = start({ ...opts, fds: [0, theirs, 2] });
  } catch (err) {
    closeFd(mine);
    throw err;
  } finally {
    closeFd(theirs);
  }
  const sock = new net.Socket({ fd: mine, readable: true, writable: false });
  const chunks: Buffer[] = [];
  const printed = (): string => Buffer.concat(chunks).toString('utf8');
  const eof = new Promise<void>((resolve, reject) => {
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', resolve);
    sock.on('error', reject);
  });
  try {
    await within(run.child.started, timeoutMs, `pid ${run.child.pid} to exec ${opts.file}`);
    const [, exit] = await Promise.all([within(eof, timeoutMs, `${opts.argv.join(' ')} to close its stdout`), run.waitExit(timeoutMs)]);
    return { stdout: printed(), exit };
  } catch (err) {
    run.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; it printed ${JSON.stringify(printed())}`);
  } finally {
    sock.destroy();
  }
}

/** /proc/PID/status as a map of its "Key:\tvalue" lines. */
export function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** State letter and parent pid from /proc/PID/stat, or null when the pid is gone. */
export function procStat(pid: number): { state: string; ppid: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' '); // the command name may hold spaces and parens
  return { state: rest[0], ppid: Number(rest[1]) };
}

/** True once pid no longer runs (gone, or a zombie waiting for a reaper), polling up to timeoutMs. */
export async function waitGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = procStat(pid);
    if (st === null || st.state === 'Z' || st.state === 'X') return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Direct children of pid (via /proc/PID/task/PID/children), polled until there are `count` of them. */
export async function waitChildren(pid: number, count: number, timeoutMs = 5000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let kids: number[] = [];
    try {
      kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* the process is gone: the deadline decides */
    }
    if (kids.length >= count) return kids;
    if (Date.now() > deadline) throw new Error(`pid ${pid} has ${kids.length} children, wanted ${count}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Pids of zombie children of ppid. */
export function zombieChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st && st.ppid === ppid && st.state === 'Z') out.push(Number(name));
  }
  return out;
}

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** SIGKILL pid if it still runs; for test cleanup. */
export function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** The mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo, or null. */
export function cgroup2Mount(): string | null {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left.split(' ')[4];
  }
  return null;
}

/** Path of the compiled helper script test/helpers/<name>.ts. */
export function helperScript(name: string): string {
  return path.join(__dirname, `${name}.js`);
}
