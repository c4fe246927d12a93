// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// A hung FUSE mount (its daemon read the request and never answers: the reader sleeps uninterruptibly, SIGKILL does
// not end it) costs one abandoned agent and one budget, never the caller's responsiveness. The mount point itself is
// never looked at from this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AsyncAgent } from '../src/agent/async';
import { HostError } from '../src/host-fs';
import { agentPids, assertAgentsGone, expectHostError, hungMount, openTmpdir, testPool } from './helpers/agents';
import { procStat } from './helpers/native-proc';
import { createUser } from './helpers/users';
import { until, within, loopLag } from './helpers/wait';

const MARGIN_MS = 400;

function stuckAgents(): number[] {
  return agentPids().filter((pid) => procStat(pid)?.state === 'D');
}

test("a tenant's read under a hung mount times out within its budget; a fresh agent serves the next call", async (t) => {
  const tenant = createUser(t);
  const dir = openTmpdir(t, 'agent-fuse');
  const mount = await hungMount(t);
  const pool = testPool(t);
  const who = { uid: tenant.uid, gid: tenant.gid, groups: [tenant.gid] };
  fs.writeFileSync(path.join(dir, 'ok.ini'), 'fine\n', { mode: 0o644 });

  const started = Date.now();
  const err = await expectHostError(
    () => pool.host(who, 500).readFile(path.join(mount.dir, 'app.ini'), 100),
    'ETIMEDOUT',
    new RegExp(`^timed out after 0\\.5 s reading ${mount.dir}/app\\.ini$`),
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 450 && elapsed < 500 + MARGIN_MS, `answered after ${elapsed} ms`);
  assert.equal(err.path, path.join(mount.dir, 'app.ini'));
  // killed while asleep in the mount, it moves to the uninterruptible wait as soon as it is scheduled
  const stuck = await until(() => stuckAgents()[0], 'the abandoned agent stuck in the kernel', 5000);

  assert.equal(pool.host(who, 2000).readFile(path.join(dir, 'ok.ini'), 100).toString(), 'fine\n');

  let settled = false;
  err.settled!.then(() => (settled = true), assert.fail);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(settled, false, 'settled waits for the stuck agent');
  await mount.release();
  await within(err.settled!, 5000, 'settled after release');
  assert.equal(procStat(stuck), null, 'the abandoned agent exited and was reaped');
});

test('stuck agents per identity are capped: beyond the cap calls fail at once with EAGAIN until one exits', async (t) => {
  const dir = openTmpdir(t, 'agent-fuse-cap');
  const mount = await hungMount(t);
  const pool = testPool(t, { maxStuck: 2 });
  const hung = path.join(mount.dir, 'x.ini');
  fs.writeFileSync(path.join(dir, 'ok.ini'), 'fine\n');

  await expectHostError(() => pool.host(null, 300).readFile(hung, 100), 'ETIMEDOUT');
  // the same path again: it is still stuck, so it fails at once and strands no second agent
  const again = Date.now();
  await expectHostError(
    () => pool.host(null, 300).readFile(hung, 100),
    'ETIMEDOUT',
    /^timed out after 0\.3 s reading .*x\.ini \(still not answering\)$/,
  );
  assert.ok(Date.now() - again < 100, 'nothing was waited for');
  await until(() => stuckAgents().length === 1, 'the abandoned agent stuck in the mount', 5000);
  await expectHostError(
    () => pool.host(null, 300).stat(path.join(mount.dir, 'y.ini'), true),
    'ETIMEDOUT',
    /^timed out after 0\.3 s looking at /,
  );
  await until(() => stuckAgents().length === 2, 'two abandoned agents stuck in the mount', 5000);
  const started = Date.now();
  const full = await expectHostError(
    () => pool.host(null, 300).readFile(path.join(dir, 'ok.ini'), 100),
    'EAGAIN',
    /^reading .*ok\.ini: 2 agents \(this process's identity\) are still stuck on earlier accesses that timed out/,
  );
  assert.ok(Date.now() - started < 100, 'no agent was started, nothing was waited for');
  assert.equal(stuckAgents().length, 2, 'no third agent');
  // another identity has its own count
  const tenant = createUser(t);
  fs.chmodSync(path.join(dir, 'ok.ini'), 0o644);
  assert.equal(
    pool.host({ uid: tenant.uid, gid: tenant.gid, groups: [] }, 2000).readFile(path.join(dir, 'ok.ini'), 100).toString(),
    'fine\n',
  );

  await mount.release();
  await within(full.settled!, 5000, 'settled after release');
  assert.equal(pool.host(null, 2000).readFile(path.join(dir, 'ok.ini'), 100).toString(), 'fine\n');
});

test("the emperor's AsyncAgent: [ok, hung, ok] answers both ok paths, ETIMEDOUT for the hung one, and the loop ticks", async (t) => {
  const dir = openTmpdir(t, 'agent-fuse-async');
  const mount = await hungMount(t);
  const agent = new AsyncAgent({ budgetMs: 500 });
  t.after(async () => {
    agent.close();
    await assertAgentsGone();
  });
  const a = path.join(dir, 'a.ini');
  const b = path.join(dir, 'b.ini');
  fs.writeFileSync(a, 'a');
  fs.symlinkSync('a.ini', b);
  const hung = path.join(mount.dir, 'vassal.ini');

  const worstGap = loopLag(t);

  const started = Date.now();
  const [sa, sh, sb] = await agent.statSources([a, hung, b], { nofollow: false, tyrantNofollow: false });
  const elapsed = Date.now() - started;
  const st = fs.statSync(a);
  assert.deepEqual(sa, { mtimeMs: st.mtimeMs, uid: 0, gid: 0, symlink: false });
  assert.deepEqual(sb, { mtimeMs: st.mtimeMs, uid: 0, gid: 0, symlink: true });
  assert.ok(sh instanceof HostError && sh.code === 'ETIMEDOUT', `the hung path: ${String(sh)}`);
  assert.equal(sh.message, `timed out after 0.5 s looking at ${hung}`);
  assert.ok(elapsed < 500 + MARGIN_MS, `answered after ${elapsed} ms`);

  await expectHostError(() => agent.readdir(mount.dir), 'ETIMEDOUT', new RegExp(`^timed out after 0\\.5 s listing ${mount.dir}$`));
  assert.deepEqual((await agent.readdir(dir)).sort(), ['a.ini', 'b.ini']);
  assert.deepEqual(await agent.dirStamp(dir), { ino: fs.statSync(dir).ino, mtimeMs: fs.statSync(dir).mtimeMs });
  assert.equal(await agent.dirStamp(a), null);
  assert.equal(await agent.realpath(b), a);
  assert.ok(worstGap() < 200, `the event loop stalled for ${worstGap().toFixed(0)} ms`);
  assert.equal(stuckAgents().length, 2);

  await mount.release();
  await within(sh.settled!, 5000, 'settled after release');
});

test('AsyncAgent: calls queued behind a hung one are served by a fresh agent; its stuck cap fails calls at once', async (t) => {
  const dir = openTmpdir(t, 'agent-fuse-queue');
  const mount = await hungMount(t);
  const agent = new AsyncAgent({ budgetMs: 300, maxStuck: 2 });
  t.after(async () => {
    agent.close();
    await assertAgentsGone();
  });
  fs.writeFileSync(path.join(dir, 'a.ini'), 'a');
  const hung = agent.realpath(path.join(mount.dir, 'x'));
  const queued = agent.readdir(dir);
  await expectHostError(() => hung, 'ETIMEDOUT');
  assert.deepEqual(await queued, ['a.ini']);
  const third = agent.realpath(path.join(mount.dir, 'y'));
  await expectHostError(() => third, 'ETIMEDOUT');
  const started = Date.now();
  const [full] = await agent.statSources([dir], { nofollow: false, tyrantNofollow: false });
  assert.ok(full instanceof HostError && full.code === 'EAGAIN', String(full));
  assert.ok(Date.now() - started < 100);
  await mount.release();
  await within(full.settled!, 5000, 'settled after release');
  assert.deepEqual(await agent.statSources([dir], { nofollow: false, tyrantNofollow: false }), [null], 'a directory is not a vassal');
});
