// Real users and groups for the tyrant tests, and how a process's identity shows in /proc. Users and groups are
// made with useradd/groupadd under unique names and removed in t.after (even when the test fails); the shadow
// tools lock /etc/passwd, so a busy lock is retried.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

function run(cmd: string, args: string[]): void {
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
      return;
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr ?? '');
      if (attempt >= 20 || !/lock/i.test(stderr)) throw new Error(`${cmd} ${args.join(' ')}: ${stderr || (e as Error).message}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

function field(file: string, name: string, index: number): number {
  const f = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((e) => e[0] === name);
  if (!f) throw new Error(`${name} is not in ${file}`);
  return Number(f[index]);
}

/** A new group, deleted after the test. */
export function createGroup(t: TestContext, prefix = 'tyg'): { name: string; gid: number } {
  const name = uniqueName(prefix);
  run('groupadd', [name]);
  t.after(() => run('groupdel', [name]));
  return { name, gid: field('/etc/group', name, 2) };
}

/** A new user with its own primary group (and the given supplementary groups), deleted after the test. */
export function createUser(t: TestContext, opts: { prefix?: string; groups?: string[] } = {}): TestUser {
  const name = uniqueName(opts.prefix ?? 'tyu');
  const args = ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group'];
  if (opts.groups?.length) args.push('--groups', opts.groups.join(','));
  run('useradd', [...args, name]);
  // --force: after hooks run in registration order, so the test's processes of this user may still be ending;
  // userdel also removes the user's own group (--user-group)
  t.after(() => run('userdel', ['--force', name]));
  return { name, uid: field('/etc/passwd', name, 2), gid: field('/etc/passwd', name, 3) };
}

export interface ProcIdentity {
  /** real, effective, saved, filesystem */
  uid: number[];
  gid: number[];
  groups: number[];
  capEff: bigint;
  capPrm: bigint;
  capAmb: bigint;
  noNewPrivs: number;
}

export function procIdentity(pid: number): ProcIdentity {
  const fields = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const ids = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean).map(Number);
  const mask = (k: string) => BigInt(`0x${fields.get(k) ?? '0'}`);
  return {
    uid: ids('Uid'),
    gid: ids('Gid'),
    groups: ids('Groups').sort((a, b) => a - b),
    capEff: mask('CapEff'),
    capPrm: mask('CapPrm'),
    capAmb: mask('CapAmb'),
    noNewPrivs: Number(fields.get('NoNewPrivs')),
  };
}

/** CAP_SETGID (6) + CAP_SETUID (7). */
export const SETUID_SETGID = (1n << 6n) | (1n << 7n);

/**
 * A fresh directory every user may search, removed after the test, with an empty `vassals` directory in it that every
 * tenant may read: where a tyrant test's vassal files go.
 */
export function tenantDirs(t: TestContext, prefix: string): { dir: string; vassals: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `emperor-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  return { dir, vassals };
}

/** A vassal file ('[uwsgi]' then lines) owned by `owner` (0: left to root); returns its path. */
export function vassalFile(dir: string, name: string, owner: TestUser | 0, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, ['[uwsgi]', ...lines].join('\n') + '\n', { mode: 0o644 });
  if (owner !== 0) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}
