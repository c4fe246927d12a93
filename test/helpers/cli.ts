// Runs the emperor CLI (node dist/src/cli.js) as a separate process, optionally as another user: one command to its
// end, or a long one (logs -f, status --watch) read as it goes and ended by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { within } from './wait';

const CLI = path.resolve(__dirname, '../../src/cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
}

function start(args: string[], opts: CliOptions): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    uid: opts.uid,
    gid: opts.gid,
    env: { ...process.env, EMPEROR_LOG_FORMAT: 'json', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** One command, to its exit (killed after timeoutMs). */
export function cli(args: string[], opts: CliOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const child = start(args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const timeoutMs = opts.timeoutMs ?? 20000;
  return within(done, timeoutMs, `emperor ${args.join(' ')}`).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}; stdout: ${stdout}; stderr: ${stderr}`);
  });
}

/** A command that runs until stopped: its output so far, and a bounded wait for some of it. */
export class LongCli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';

  constructor(args: string[], opts: CliOptions = {}) {
    this.child = start(args, opts);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  async waitFor(pred: (stdout: string) => boolean, what: string, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.stdout)) {
      if (this.child.exitCode !== null)
        throw new Error(`the command exited (${this.child.exitCode}) before ${what}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL by pid, and wait for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = new Promise((r) => this.child.once('close', r));
    this.child.kill('SIGKILL');
    await within(closed, 5000, 'the command to end');
  }
}
