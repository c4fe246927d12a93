// The init skeleton: pid 1 duties (reaping, signal forwarding, exit status) and the exec-only plan.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { INIT_EXIT_PROTOCOL, INIT_EXIT_STEP_FAILED, type PlanStep } from '../src/jail';
import { childrenOf, planOf, processState, startInit, tmpdir } from './fixtures/vassal/harness';
import { until } from './helpers/wait';
import { vassalInit } from './helpers/emperor-process';
import { createUser, procIdentity } from './helpers/users';
import { CLONE_NEWUSER, cloneFlagOf } from '../src/tables/namespaces';

test('an exec-only plan runs the app as pid 2 and the init exits with its status', async (t) => {
  const dir = tmpdir(t, 'exec');
  const file = path.join(dir, 'app.ini');
  const out = path.join(dir, 'out');
  const init = startInit(
    t,
    planOf(file, [
      `exec-as-root = echo root-hook $$ > ${out}.hook`,
      `unprivileged-binary-patch-arg = echo "$$ $UWSGI_EMPEROR_FD" > ${out}; printf '\\001\\021' >&$UWSGI_EMPEROR_FD; exit 3`,
    ]),
  );
  assert.deepEqual(await init.waitExit(), { code: 3, signal: null });
  assert.equal(fs.readFileSync(`${out}.hook`, 'utf8'), 'root-hook 2\n'); // the hook ran first, as the init's child
  assert.equal(fs.readFileSync(out, 'utf8'), '3 3\n'); // the app: pid 3 (after the hook), protocol fd 3
  assert.deepEqual(
    init.steps.map((s) => [s.origin.line, s.origin.option, s.step, s.ok]),
    [
      [1, 'exec-as-root', 'exec', true],
      [2, 'unprivileged-binary-patch-arg', 'app', true],
    ],
  );
  assert.deepEqual(init.apps, [{ pid: 3 }, { exit: { code: 3, signal: null } }]);
  assert.deepEqual(init.protocol, [1, 17]);
});

test('the init reaps an orphaned grandchild and forwards signals', async (t) => {
  const dir = tmpdir(t, 'reap');
  const file = path.join(dir, 'app.ini');
  const orphan = path.join(dir, 'orphan');
  const usr1 = path.join(dir, 'usr1');
  // The orphan outlives its parent subshell, so it is reparented to the init; when it exits it must be reaped.
  const init = startInit(
    t,
    planOf(file, [
      `unprivileged-binary-patch-arg = (sh -c 'sleep 0.2; echo $$ > ${orphan}' &); trap 'echo usr1 >> ${usr1}' USR1; while :; do sleep 0.05; done`,
    ]),
  );
  await init.waitApp();
  const initPid = init.child.pid;
  await until(() => fs.existsSync(orphan) && fs.readFileSync(orphan, 'utf8').endsWith('\n'), 'the orphan');
  await new Promise((r) => setTimeout(r, 100));
  const kids = childrenOf(initPid);
  assert.equal(kids.length, 1, `init children: ${kids.map((k) => `${k}:${processState(k)}`).join(' ')}`);
  assert.notEqual(processState(kids[0]), 'Z');

  init.child.kill('SIGUSR1');
  await until(() => fs.existsSync(usr1), 'SIGUSR1 at the app');
  init.child.kill('SIGTERM');
  assert.deepEqual(await init.waitExit(), { code: 128 + 15, signal: null });
  assert.deepEqual(init.apps.at(-1), { exit: { code: null, signal: 'SIGTERM' } });
});

test('without a pid namespace the init is a subreaper and still exits 128+signal', async (t) => {
  const dir = tmpdir(t, 'subreaper');
  const orphan = path.join(dir, 'orphan');
  const daemonPid = path.join(dir, 'daemon.pid');
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `exec-as-root = sleep 60 & echo $! > ${daemonPid}`,
      `unprivileged-binary-patch-arg = (sleep 0.1; echo x > ${orphan}) & exec sleep 30`,
    ]),
    [],
  );
  await init.waitApp();
  const daemon = Number(fs.readFileSync(daemonPid, 'utf8'));
  t.after(() => processState(daemon) && process.kill(daemon, 'SIGKILL'));
  await until(() => fs.existsSync(orphan), 'the orphan');
  await until(() => childrenOf(init.child.pid).length === 2, 'the orphan reaped');
  assert.ok(childrenOf(init.child.pid).includes(daemon), "the hook's daemon was reparented to the init");
  init.child.kill('SIGINT');
  assert.deepEqual(await init.waitExit(), { code: 128 + 2, signal: null });
  // SIGKILLed by the init before it exited: at most a zombie for the host's init to reap.
  await until(() => ['Z', undefined].includes(processState(daemon)) || undefined, 'the daemon gone with the vassal', 2000);
});

test('a plain command runs without /bin/sh: argv as written, found in PATH, PWD exported as the shell would', async (t) => {
  const dir = tmpdir(t, 'plain');
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), [`chdir = ${dir}`, 'unprivileged-binary-patch-arg = exec sleep 30']));
  await init.waitApp();
  const [app] = childrenOf(init.child.pid);
  assert.equal(fs.readFileSync(`/proc/${app}/cmdline`, 'latin1'), 'sleep\x0030\x00', 'execvp semantics: argv[0] is not rewritten');
  assert.equal(fs.readlinkSync(`/proc/${app}/exe`), '/usr/bin/sleep');
  assert.ok(fs.readFileSync(`/proc/${app}/environ`, 'latin1').split('\0').includes(`PWD=${dir}`));
  init.link.stop(2000);
  assert.deepEqual(await init.waitExit(), { code: 128 + 15, signal: null });
});

test('stop() sends SIGTERM to the app and the init exits', async (t) => {
  const dir = tmpdir(t, 'stop');
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), ['unprivileged-binary-patch-arg = exec sleep 30']));
  await init.waitApp();
  init.link.stop(2000);
  assert.deepEqual(await init.waitExit(), { code: 128 + 15, signal: null });
});

test('an app that ignores SIGTERM is killed after the mercy', async (t) => {
  const dir = tmpdir(t, 'mercy');
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `unprivileged-binary-patch-arg = trap '' TERM; printf '\\001' >&$UWSGI_EMPEROR_FD; while :; do sleep 0.05; done`,
    ]),
  );
  await until(() => init.protocol.includes(1), 'the trap');
  init.link.stop(200);
  assert.deepEqual(await init.waitExit(), { code: 128 + 9, signal: null });
});

test('when the emperor goes away the init kills the app and exits', async (t) => {
  const dir = tmpdir(t, 'lost');
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), ['unprivileged-binary-patch-arg = exec sleep 30']));
  await init.waitApp();
  const appHostPid = await until(() => childrenOf(init.child.pid)[0], 'the app process');
  init.link.close();
  const e = await init.waitExit();
  assert.notEqual(e.code, 0);
  assert.equal(processState(appHostPid), undefined);
});

test('a failing hook command stops the vassal with the step-failed exit code, naming the line', async (t) => {
  const dir = tmpdir(t, 'fail');
  const file = path.join(dir, 'a.ini');
  const ran = path.join(dir, 'ran');
  const init = startInit(
    t,
    planOf(file, ['exec-as-root = exit 7', `exec-as-user = touch ${ran}`, 'unprivileged-binary-patch-arg = exec sleep 30']),
  );
  assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_STEP_FAILED, signal: null });
  assert.equal(init.failed.length, 1);
  assert.equal(init.reportsAtExit, 1, 'the report is read before the exit can be seen');
  const f = init.failed[0];
  assert.deepEqual(
    [f.origin.file, f.origin.line, f.origin.option, f.step, f.ok, f.syscall],
    [file, 1, 'exec-as-root', 'exec', false, 'exec'],
  );
  assert.match(f.message, /exited with status 7/);
  assert.equal(fs.existsSync(ran), false);
  assert.deepEqual(init.apps, []);
});

test('an app that cannot be executed is reported as a failed step with ENOENT', async (t) => {
  const dir = tmpdir(t, 'enoent');
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), [`unprivileged-binary-patch = ${dir}/missing-program`]));
  assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_STEP_FAILED, signal: null });
  assert.equal(init.failed.length, 1);
  assert.deepEqual(
    [init.failed[0].step, init.failed[0].code, init.failed[0].syscall, init.failed[0].path],
    ['app', 'ENOENT', 'execve', `${dir}/missing-program`],
  );
});

test('a plan with an unknown op or a wrong arity is refused as a protocol error naming the step, before any step runs', async (t) => {
  const dir = tmpdir(t, 'vocabulary');
  const file = path.join(dir, 'a.ini');
  const ran = path.join(dir, 'ran');
  const plan = planOf(file, [`exec-as-root = touch ${ran}`, 'chdir = /', 'unprivileged-binary-patch-arg = exec sleep 30']);
  // what a broken or hostile emperor could send: the types of src/jail/plan.ts make neither buildable
  const bad: Array<[PlanStep, RegExp]> = [
    [{ ...plan.steps[1], op: 'chmodx', args: ['/'] } as unknown as PlanStep, /protocol error: unknown plan op 'chmodx'/],
    [{ ...plan.steps[1], op: 'mount', args: ['proc', 'none', '/proc'] } as unknown as PlanStep, /'mount' takes 5 argument\(s\), got 3/],
    [{ ...plan.steps[1], op: 'exec', args: [] } as unknown as PlanStep, /'exec' takes an argv of one word at least, got 0/],
  ];
  for (const [step, message] of bad) {
    const init = startInit(t, { ...plan, steps: [plan.steps[0], step, plan.steps[2]] });
    assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_PROTOCOL, signal: null });
    assert.equal(init.steps.length, 1, 'one report: the refusal');
    const f = init.failed[0];
    assert.deepEqual([f.index, f.origin.line, f.origin.option, f.code, f.syscall], [1, 2, 'chdir', 'EPROTO', 'plan']);
    assert.match(f.message, message);
    assert.equal(fs.existsSync(ran), false, 'the step before it never ran');
    assert.deepEqual(init.apps, []);
  }
});

test('with --userns the init makes its own user namespace as the user it runs as; pid 1 is its child, signals and the exit pass through', async (t) => {
  const user = createUser(t);
  const dir = tmpdir(t, 'userns');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'out');
  const flags = CLONE_NEWUSER | cloneFlagOf('pid')! | cloneFlagOf('mount')!;
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `unprivileged-binary-patch-arg = trap 'exit 7' TERM; echo "$(id -u) $$ $(cat /proc/self/setgroups)" > ${out}; while :; do sleep 0.05; done`,
    ]),
    [],
    { args: [`--userns=${flags}`, '--propagation=private'], spawn: { uid: user.uid, gid: user.gid, groups: [user.gid], noNewPrivs: true } },
  );
  await init.waitApp();
  await until(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').endsWith('\n'), 'the app');
  assert.equal(fs.readFileSync(out, 'utf8'), '0 2 deny\n', "root of its namespace, pid 2 after the init's pid 1, setgroups denied");
  const outside = init.child.pid;
  const pidOne = vassalInit(outside);
  assert.notEqual(pidOne, outside);
  assert.deepEqual(
    fs.readdirSync(`/proc/${outside}/fd`).map((fd) => fs.readlinkSync(`/proc/${outside}/fd/${fd}`)),
    ['anon_inode:[signalfd]'],
    'the process outside keeps no descriptor but its signalfd: the control socket is pid 1 alone',
  );
  assert.deepEqual(procIdentity(pidOne).uid, [user.uid, user.uid, user.uid, user.uid], 'the user on the host');
  init.child.kill('SIGTERM'); // passed on to pid 1, which passes it on to the app
  assert.deepEqual(await init.waitExit(), { code: 7, signal: null }, "the app's status, through pid 1 and the process outside");
});

test('a user namespace the init cannot make, or an argument it does not know, ends it with a reason', async (t) => {
  const dir = tmpdir(t, 'userns-fail');
  const plan = planOf(path.join(dir, 'a.ini'), ['unprivileged-binary-patch-arg = exec sleep 30']);
  // 0x2 is no namespace: unshare(2) refuses it, after the user namespace is made
  const bad = startInit(t, plan, [], { args: [`--userns=${CLONE_NEWUSER | 0x2}`] });
  assert.deepEqual(await bad.waitExit(), { code: INIT_EXIT_STEP_FAILED, signal: null });
  assert.deepEqual([bad.failed[0]?.code, bad.failed[0]?.syscall], ['EINVAL', 'unshare']);
  assert.match(bad.failed[0].message, /^the vassal's user namespace: unshare: /);
  const unknown = startInit(t, plan, [], { args: ['--userns=x'] });
  assert.deepEqual(await unknown.waitExit(), { code: INIT_EXIT_PROTOCOL, signal: null });
  assert.deepEqual(unknown.steps, []);
});
