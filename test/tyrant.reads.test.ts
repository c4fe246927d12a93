// Under a tyrant, everything a tenant's config names is opened, and every @(exec://) run, by a process holding the
// tenant's own uid, gid and groups: the kernel decides, with its directory search permission and ACLs, not a
// mode-bit imitation in the root emperor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, childrenOf, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { createUser } from './helpers/users';

function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

test("a tenant's @() and ini of a file in a root-only directory are refused by the kernel; an ACL grant is honoured", async (t) => {
  const alice = createUser(t);
  const base = tmpdir('tyrantreads');
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  // a 0644 file in a 0700 root directory: its mode bits say "anyone may read", the directory says no
  const secretDir = path.join(base, 'root-only');
  fs.mkdirSync(secretDir, { mode: 0o700 });
  fs.writeFileSync(path.join(secretDir, 'secret'), 'TOPSECRET\n', { mode: 0o644 });
  fs.writeFileSync(path.join(secretDir, 'secret.ini'), '[uwsgi]\nenv = LEAK=TOPSECRET\n', { mode: 0o644 });
  // a 0600 root file alice may read through an ACL entry only
  const shared = path.join(base, 'shared');
  fs.mkdirSync(shared, { mode: 0o755 });
  fs.writeFileSync(path.join(shared, 'granted'), 'GRANTED\n', { mode: 0o600 });
  execFileSync('setfacl', ['-m', `u:${alice.uid}:r`, path.join(shared, 'granted')]);

  const dir = path.join(base, 'vassals');
  fs.mkdirSync(dir, { mode: 0o755 });
  const own = (name: string, body: string) => {
    fs.writeFileSync(path.join(dir, name), `[uwsgi]\n${body}\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
    fs.chownSync(path.join(dir, name), alice.uid, alice.gid);
  };
  own('at.ini', `env = LEAK=@(${secretDir}/secret)`);
  own('inc.ini', `ini = ${secretDir}/secret.ini`);
  own('acl.ini', `env = GOT=@(${shared}/granted)\nenv = WHO=@(exec://id -u)`);
  const stats = path.join(base, 'stats.sock');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  const blob = await until(async () => {
    const b = await fetchStats(stats);
    const st = (id: string) => b.vassals.find((v) => v.id === id)?.state;
    return st('at.ini') === 'broken' && st('inc.ini') === 'broken' && st('acl.ini') === 'running' ? b : undefined;
  }, 'at.ini and inc.ini broken, acl.ini running');
  const err = (id: string) => String(blob.vassals.find((v) => v.id === id)!.setup_error);
  assert.match(err('at.ini'), /at\.ini:2: env: @\(.*root-only\/secret\): .*EACCES/);
  assert.match(err('inc.ini'), /inc\.ini:2: ini: .*root-only\/secret\.ini.*EACCES/);
  for (const id of ['at.ini', 'inc.ini']) assert.equal(emperor.events('spawned', id).length, 0, `${id} never ran`);

  await emperor.waitEvent('app-started', 'acl.ini');
  const init = emperor.events('spawned', 'acl.ini')[0].pid as number;
  const app = await until(() => childrenOf(init)[0], 'the app of acl.ini');
  const env = environOf(app);
  assert.equal(env.GOT, 'GRANTED', 'the ACL lets alice read what her mode bits alone would not');
  assert.equal(env.WHO, String(alice.uid), '@(exec://) ran as alice');
  assert.equal(env.LEAK, undefined);
});
