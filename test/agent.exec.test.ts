// @(exec://) through an agent: bounded in time and output, and the command's whole process group is killed when it
// ends or times out, background grandchildren included. One deadline covers all the calls of a host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentPids, expectHostError, openTmpdir, testPool } from './helpers/agents';
import { procStat, waitGone } from './helpers/native-proc';

/** Pids of live (not zombie) processes whose command line contains marker. */
function withMarker(marker: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = procStat(Number(name));
      if (st && st.state !== 'Z' && fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(marker)) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

test('a command that outlives the budget is killed with its whole group, background grandchild included', async (t) => {
  const dir = openTmpdir(t, 'agent-exec-timeout');
  const pool = testPool(t);
  const marker = `agent-marker-${randomBytes(6).toString('hex')}`;
  const pidFile = path.join(dir, 'grandchild.pid');
  const started = Date.now();
  // the grandchild keeps the pipe open, so there is no EOF: the budget decides
  const command = `sh -c 'echo $$ > ${pidFile}; sleep 1000; true' ${marker} & sleep 1000`;
  await expectHostError(
    () => pool.host(null, 800).exec(command, dir, 1000),
    'ETIMEDOUT',
    new RegExp(`^timed out after 0\\.8 s running '.*' in ${dir}$`),
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 750 && elapsed < 1800, `answered after ${elapsed} ms`);
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(grandchild > 0, 'the grandchild ran');
  assert.ok(await waitGone(grandchild, 2000), `grandchild ${grandchild} is gone`);
  assert.deepEqual(withMarker(marker), []);
  assert.equal(pool.host(null, 2000).exec('echo again', dir, 100).toString(), 'again\n', 'the same agent serves on');
});

test('at EOF the group is killed too: a background job that closed its stdout does not survive', async (t) => {
  const dir = openTmpdir(t, 'agent-exec-eof');
  const pool = testPool(t);
  const marker = `agent-marker-${randomBytes(6).toString('hex')}`;
  const pidFile = path.join(dir, 'bg.pid');
  const out = pool
    .host(null, 5000)
    .exec(`sh -c 'echo $$ > ${pidFile}; sleep 1000; true' ${marker} >/dev/null & sleep 0.2; echo done`, dir, 100);
  assert.equal(out.toString(), 'done\n');
  assert.ok(await waitGone(Number(fs.readFileSync(pidFile, 'utf8')), 2000));
  assert.deepEqual(withMarker(marker), []);
});

test('output over the limit is EFBIG, and a command that never ends is not waited for', async (t) => {
  const dir = openTmpdir(t, 'agent-exec-limit');
  const host = testPool(t).host(null, 10000);
  assert.equal(host.exec('head -c 1000 /dev/zero', dir, 1000).length, 1000);
  await expectHostError(
    () => host.exec('head -c 1001 /dev/zero', dir, 1000),
    'EFBIG',
    /^running 'head -c 1001 \/dev\/zero' in .*: its output is over the 1000-byte limit$/,
  );
  const started = Date.now();
  await expectHostError(() => host.exec('yes', dir, 1 << 20), 'EFBIG');
  assert.ok(Date.now() - started < 3000);
  assert.equal(host.exec('exit 3', dir, 100).length, 0, 'the exit status is ignored, as uWSGI does');
});

test('one deadline covers every call of a host; the next host has its own', async (t) => {
  const dir = openTmpdir(t, 'agent-exec-deadline');
  const pool = testPool(t);
  const host = pool.host(null, 1000);
  host.exec('sleep 0.6', dir, 100);
  const started = Date.now();
  await expectHostError(() => host.exec('sleep 0.6', dir, 100), 'ETIMEDOUT', /^timed out after 1 s running 'sleep 0\.6'/);
  assert.ok(Date.now() - started < 900, 'the second call had only what was left');
  await expectHostError(() => host.readFile('/etc/hostname', 100), 'ETIMEDOUT', /^timed out after 1 s reading \/etc\/hostname$/);
  assert.ok(pool.host(null, 1000).readFile('/etc/hostname', 1000).length > 0);
});

test('an agent that dies is EAGENT for the call it owed; a dead idle agent is replaced without a failure', async (t) => {
  const dir = openTmpdir(t, 'agent-exec-death');
  const pool = testPool(t);
  const host = pool.host(null, 10000);
  // the command's parent is the agent itself: a tenant can always kill its own agent
  await expectHostError(
    () => host.exec('kill -9 $PPID; sleep 1', dir, 100),
    'EAGENT',
    /^running 'kill -9 \$PPID; sleep 1' in .*: the agent \(pid \d+, this process's identity\) exited before answering$/,
  );
  assert.equal(host.exec('echo fresh', dir, 100).toString(), 'fresh\n');
  const [idle] = agentPids().filter((pid) => procStat(pid)?.state !== 'Z');
  process.kill(idle, 'SIGKILL');
  assert.ok(await waitGone(idle));
  assert.equal(host.exec('echo replaced', dir, 100).toString(), 'replaced\n');
});
