// The control socket through the CLI: stop (held until start or a file change), start, reload, resume (one vassal's
// throttle, uWSGI issue #1148), status with CPU and MEM (once and --watch), clear errors for an unknown vassal; in
// tyrant mode a tenant acts on its own vassals and is refused on another tenant's, as the kernel says who it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { LongCli, cli } from './helpers/cli';
import { createUser, vassalFile } from './helpers/users';
import { until } from './helpers/wait';
import { fetchStats } from '../src/ops';

const stateOf = async (stats: string, name: string) => (await fetchStats(stats)).vassals.find((v) => v.id === name)?.state;

test('control: stop holds a vassal until start or a file change; reload; resume clears one throttle; status; unknown names', async (t) => {
  const dir = tmpdir('ops-control');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  const app = path.join(vassals, 'app.ini');
  fs.writeFileSync(app, '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n');
  fs.writeFileSync(path.join(vassals, 'crash.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exit 1\n');
  const control = path.join(dir, 'control.sock');
  const stats = path.join(dir, 'stats.sock');
  // a 30 s throttle step: the second death of crash.ini waits 30 s, unless resumed
  const emperor = new EmperorProcess([
    '--emperor',
    vassals,
    '--emperor-control',
    control,
    '--emperor-stats',
    stats,
    '--emperor-throttle',
    '30000',
  ]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'app.ini');
  assert.equal(fs.statSync(control).mode & 0o777, 0o600, 'outside tyrant mode only root and the emperor user may connect');

  const stop = await cli(['stop', 'app.ini', '--control', control]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, 'stop app.ini: stopping\n');
  await emperor.waitEvent('exit', 'app.ini');
  await until(async () => (await stateOf(stats, 'app.ini')) === 'stopped', 'app.ini stopped');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(emperor.events('spawned', 'app.ini').length, 1, 'a stopped vassal stays stopped');
  assert.equal((await cli(['start', 'app.ini', '--control', control])).code, 0);
  await emperor.waitEvent('app-started', 'app.ini', 2);

  await cli(['stop', 'app.ini', '--control', control]);
  await until(async () => (await stateOf(stats, 'app.ini')) === 'stopped', 'app.ini stopped again');
  const future = new Date(Date.now() + 5000);
  fs.utimesSync(app, future, future);
  await emperor.waitEvent('app-started', 'app.ini', 3);

  const reload = await cli(['reload', 'app.ini', '--control', control]);
  assert.equal(reload.code, 0, reload.stderr);
  await emperor.waitEvent('reload', 'app.ini');

  await emperor.waitLog(
    (l) => l.some((e) => e.event === 'throttled' && e.vassal === 'crash.ini' && (e.delay_ms as number) > 20000),
    'crash.ini throttled for about 30 s',
  );
  const spawnedBefore = emperor.events('spawned', 'crash.ini').length;
  const resume = await cli(['resume', 'crash.ini', '--control', control]);
  assert.equal(resume.code, 0, resume.stderr);
  await emperor.waitEvent('spawned', 'crash.ini', spawnedBefore + 1, 5000);

  const status = await cli(['status', '--control', control]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^NAME +STATE +PID +UPTIME +RESPAWNS +CPU +MEM +LOYAL/m);
  assert.match(status.stdout, /^app\.ini +running +\d+ +\S+ +\d+ +\d+(\.\d)?% +\d+(\.\d)?[kmg]?b /m);
  const watch = new LongCli(['status', '--control', control, '--watch', '0.3']);
  t.after(() => watch.stop());
  await watch.waitFor((s) => s.split(/^NAME /m).length > 3, 'three tables from --watch');
  await watch.stop();

  const cmds = ['stop', 'start', 'reload', 'resume'];
  const unknown = await Promise.all(cmds.map((cmd) => cli([cmd, 'nope.ini', '--control', control])));
  unknown.forEach((r, i) => {
    assert.equal(r.code, 1, `${cmds[i]} nope.ini`);
    assert.equal(r.stderr, 'emperor: no vassal named nope.ini\n');
  });
  const none = await cli(['stop', 'app.ini', '--control', path.join(dir, 'missing.sock')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /missing\.sock: connect ENOENT/);
});

test("control in tyrant mode: a tenant acts on its own vassals, is refused on another tenant's, sees only its own logs", async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = tmpdir('ops-tenants');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  vassalFile(vassals, 'alice.ini', alice, ['unprivileged-binary-patch-arg = echo alice-says-hi; exec sleep 1000']);
  vassalFile(vassals, 'bob.ini', bob, ['unprivileged-binary-patch-arg = echo bob-says-hi; exec sleep 1000']);
  const control = path.join(dir, 'control.sock');
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-control', control]);
  t.after(() => emperor.kill());
  await emperor.waitLog(
    (l) => ['alice-says-hi', 'bob-says-hi'].every((m) => l.some((e) => e.event === 'output' && e.msg === m)),
    'both vassals talking',
  );
  assert.equal(fs.statSync(control).mode & 0o777, 0o666, 'in tyrant mode every user may connect; the peer check decides');

  const asAlice = { uid: alice.uid, gid: alice.gid };
  const refused = await cli(['stop', 'bob.ini', '--control', control], asAlice);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `emperor: permission denied: vassal bob.ini runs as uid ${bob.uid}, and uid ${alice.uid} may act only on its own vassals\n`,
  );
  const peek = await cli(['logs', 'bob.ini', '--control', control], asAlice);
  assert.equal(peek.code, 1);
  assert.match(peek.stderr, /permission denied: vassal bob\.ini/);
  const mine = await cli(['logs', '--control', control], asAlice);
  assert.equal(mine.code, 0, mine.stderr);
  assert.match(mine.stdout, /^alice\.ini stdout \| alice-says-hi$/m);
  assert.doesNotMatch(mine.stdout, /bob/, "another tenant's output is not shown");
  const status = await cli(['status', '--control', control], asAlice);
  assert.match(status.stdout, /^alice\.ini +running/m);
  assert.doesNotMatch(status.stdout, /bob\.ini/);

  const own = await cli(['stop', 'alice.ini', '--control', control], asAlice);
  assert.equal(own.code, 0, own.stderr);
  await emperor.waitEvent('exit', 'alice.ini');
  assert.equal(emperor.events('exit', 'bob.ini').length, 0, "bob's vassal runs on");
  const control1 = emperor.events('control')[0];
  assert.equal(control1.peer_uid, alice.uid, 'the log says who asked');
  // root may act on anyone's
  assert.equal((await cli(['reload', 'bob.ini', '--control', control])).code, 0);
  await emperor.waitEvent('reload', 'bob.ini');
  // the pool verbs act on the whole emperor: no tenant's; and outside pool mode they say so
  const drain = await cli(['drain', '--control', control], asAlice);
  assert.equal(drain.code, 1);
  assert.equal(drain.stderr, `emperor: permission denied: only root or this emperor's user may drain\n`);
  const noPool = await cli(['resume-pool', '--control', control]);
  assert.equal(noPool.code, 1);
  assert.match(noPool.stderr, /^emperor: this emperor is not in pool mode/);
});
