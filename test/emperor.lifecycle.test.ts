// End to end: a real emperor process, real vassals (a Node HTTP server as a native vassal, a real uWSGI with the
// python3 plugin as a uWSGI vassal), driven by file events and kills; observed through HTTP, the stats server and /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import type { StatsDocument, VassalStats } from '../src/ops/stats-document';
import { EmperorProcess, childrenOf, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const HELLO = path.resolve(__dirname, '../../examples/apps/hello.js');

function touch(file: string, secondsAhead = 2): void {
  const t = new Date(Date.now() + secondsAhead * 1000);
  fs.utimesSync(file, t, t);
}

async function servingPid(port: number, other?: string): Promise<string> {
  return until(
    async () => {
      const body = await httpGet(port);
      const pid = body && /pid (\d+)/.exec(body)?.[1];
      return pid && pid !== other ? pid : undefined;
    },
    `an answer on port ${port}${other ? ` from another pid than ${other}` : ''}`,
  );
}

function vassalStats(blob: StatsDocument, id: string): VassalStats {
  const v = blob.vassals.find((x) => x.id === id);
  assert.ok(v, `${id} is in the stats`);
  return v;
}

test('a native vassal is spawned, reloaded on touch, respawned after kill -9, stopped on removal', async (t) => {
  const dir = tmpdir('native');
  const stats = '127.0.0.1:20500';
  fs.writeFileSync(
    path.join(dir, 'app.ini'),
    `[uwsgi]\nenv = PORT=20501\nenv = VASSAL_NAME=%n\nunprivileged-binary-patch-arg = exec ${process.execPath} ${HELLO}\n`,
  );
  fs.writeFileSync(path.join(dir, 'README'), 'not a vassal\n');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats, '--emperor-freq', '1']);
  t.after(() => emperor.kill());

  const pid1 = await servingPid(20501);
  let blob = await fetchStats(stats);
  assert.deepEqual(
    blob.vassals.map((v) => v.id),
    ['app.ini'],
    'only the .ini file is a vassal',
  );
  assert.equal(vassalStats(blob, 'app.ini').state, 'running');
  assert.equal(blob.emperor[0], fs.realpathSync(dir));

  touch(path.join(dir, 'app.ini'));
  await emperor.waitEvent('reload', 'app.ini');
  await servingPid(20501, pid1);
  blob = await fetchStats(stats);
  assert.equal(vassalStats(blob, 'app.ini').respawns, 1);

  // the app answers with its pid inside the vassal's pid namespace: kill it by its host pid, the init's child
  const init = vassalStats(await fetchStats(stats), 'app.ini').pid;
  const [app] = childrenOf(init);
  assert.ok(app, 'the init has the app as its child');
  process.kill(app, 'SIGKILL');
  await until(async () => vassalStats(await fetchStats(stats), 'app.ini')?.deaths === 1, 'the death to be seen');
  await servingPid(20501);
  assert.ok(emperor.events('spawned', 'app.ini').length >= 2, 'a death means a new spawn');

  fs.unlinkSync(path.join(dir, 'app.ini'));
  await until(async () => (await fetchStats(stats)).vassals.length === 0, 'the vassal to be gone from the stats');
  await until(() => emperor.vassalPids().length === 0, 'no process of the vassal left');
  assert.equal(await httpGet(20501), undefined, 'nothing serves after removal');

  emperor.child.kill('SIGTERM');
  const exit = await emperor.waitExit();
  assert.equal(exit.code, 0);
  assert.equal(emperor.events('buried').length, 1);
});

test('a real uWSGI vassal speaks the protocol: ready, loyal after its first request, reloaded on touch, respawned after kill -9', async (t) => {
  const dir = tmpdir('uwsgi');
  const stats = '127.0.0.1:20510';
  fs.writeFileSync(
    path.join(dir, 'wsgi_app.py'),
    "import os\ndef application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello pid %d' % os.getpid()]\n",
  );
  fs.writeFileSync(
    path.join(dir, 'py.ini'),
    `[uwsgi]\nplugins = python3\nhttp-socket = 127.0.0.1:20511\nwsgi-file = %dwsgi_app.py\nmaster = true\nprocesses = 1\nuid = nobody\ngid = nogroup\n`,
  );
  // loyalty must come from the protocol here, not from uptime
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats, '--emperor-loyal-after', '3600']);
  t.after(() => emperor.kill());

  const master = await until(async () => {
    const v = vassalStats(await fetchStats(stats), 'py.ini');
    return v?.ready === 1 ? v.pid : undefined;
  }, 'the uWSGI vassal to send byte 1 (spawned)');
  assert.equal(vassalStats(await fetchStats(stats), 'py.ini').loyal, 0, 'not loyal before a request');
  await servingPid(20511);
  await until(async () => vassalStats(await fetchStats(stats), 'py.ini').loyal === 1, 'loyalty (byte 17) after the first request');

  touch(path.join(dir, 'py.ini'));
  await emperor.waitEvent('reload', 'py.ini');
  let v = vassalStats(await fetchStats(stats), 'py.ini');
  assert.equal(v.pid, master, 'a uWSGI reload keeps the master pid (byte 1, the vassal re-execs itself)');
  assert.equal(v.respawns, 1);
  await until(async () => vassalStats(await fetchStats(stats), 'py.ini').accepting === 1, 'the reloaded vassal accepting again');
  await servingPid(20511);

  process.kill(master, 'SIGKILL');
  const master2 = await until(async () => {
    const x = vassalStats(await fetchStats(stats), 'py.ini');
    return x && x.pid > 0 && x.pid !== master ? x.pid : undefined;
  }, 'a new uWSGI master');
  assert.notEqual(master2, master);
  await servingPid(20511);
  v = vassalStats(await fetchStats(stats), 'py.ini');
  assert.equal(v.deaths, 1);

  emperor.child.kill('SIGINT');
  assert.equal((await emperor.waitExit()).code, 0);
  assert.deepEqual(emperor.taggedPids(), [], 'Ragnarok leaves no uWSGI process');
});

test('a crash-looping vassal is throttled, and SIGURG clears the blacklist', async (t) => {
  const dir = tmpdir('throttle');
  fs.writeFileSync(path.join(dir, 'crash.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exit 3\n`);
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-throttle', '1000', '--emperor-loyal-after', '60']);
  t.after(() => emperor.kill());
  await emperor.waitEvent('spawned', 'crash.ini', 3);
  const first = emperor.events('spawned', 'crash.ini')[0].time as number;
  // a fixed window of 3.5 s after the first spawn: unthrottled, an instant crash would respawn hundreds of times;
  // uWSGI's schedule (1 ms, then +1 s per attempt) allows spawns at about 0, 0.001, 1, 3 s and the next at 6 s
  await new Promise((r) => setTimeout(r, 3500 - (Date.now() - first)));
  const inWindow = emperor.events('spawned', 'crash.ini').filter((e) => (e.time as number) - first <= 3500).length;
  assert.ok(inWindow >= 3 && inWindow <= 5, `spawns in the 3.5 s window: ${inWindow}`);
  assert.ok(emperor.events('throttled', 'crash.ini').length >= 2);

  // the next throttled spawn is due about 6 s after the first: only SIGURG can bring one before 5 s
  const before = emperor.events('spawned', 'crash.ini').length;
  process.kill(emperor.pid, 'SIGURG');
  await emperor.waitEvent('blacklist-cleared');
  await emperor.waitEvent('spawned', 'crash.ini', before + 1, 5000 - (Date.now() - first));
});

test("the Emperor doc's skeleton: app1.ini and app2.ini link to app.skel, and with nofollow touching one link reloads only that vassal", async (t) => {
  const dir = tmpdir('skel');
  fs.writeFileSync(path.join(dir, 'app.skel'), '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n');
  for (const n of ['app1.ini', 'app2.ini']) fs.symlinkSync('app.skel', path.join(dir, n));
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-nofollow']);
  t.after(() => emperor.kill());
  await emperor.waitEvent('spawned', 'app1.ini');
  await emperor.waitEvent('spawned', 'app2.ini');
  assert.equal(emperor.events('spawned', 'app.skel').length, 0, 'the skeleton itself is not a vassal');
  const later = new Date(Date.now() + 5000);
  fs.lutimesSync(path.join(dir, 'app1.ini'), later, later);
  await emperor.waitEvent('reload', 'app1.ini');
  // give a wrong reload of app2 (a shared target's mtime) time to show
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(emperor.events('reload', 'app2.ini').length, 0, 'touch --no-dereference reloads one vassal of the skeleton');
});

test('a glob:// monitor: vassals named by their paths, the pattern shown as the monitor', async (t) => {
  const dir = tmpdir('glob');
  const stats = '127.0.0.1:20502';
  for (const sub of ['a', 'b']) {
    fs.mkdirSync(path.join(dir, sub));
    fs.writeFileSync(path.join(dir, sub, 'app.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n');
  }
  fs.writeFileSync(path.join(dir, 'a', 'other.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n');
  const pattern = `${dir}/*/app.ini`;
  const emperor = new EmperorProcess(['--emperor', `glob://${pattern}`, '--emperor-stats', stats]);
  t.after(() => emperor.kill());
  const blob = await until(async () => {
    const b = await fetchStats(stats);
    return b.vassals.length === 2 && b.vassals.every((v) => v.state === 'running') ? b : undefined;
  }, 'both globbed vassals running');
  assert.deepEqual(blob.vassals.map((v) => v.id).sort(), [path.join(dir, 'a/app.ini'), path.join(dir, 'b/app.ini')]);
  assert.deepEqual(blob.emperor, [pattern]);
  assert.equal(blob.vassals[0].monitor, pattern);
});

test('a config reader is started with the emperor: the first vassal does not wait for a Node start', async (t) => {
  const dir = tmpdir('warm');
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  const readers = () =>
    childrenOf(emperor.pid).filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').startsWith('emperor-reader\0');
      } catch {
        return false;
      }
    });
  const [warm] = await until(() => (readers().length === 1 ? readers() : undefined), 'a reader before any vassal file', 15000);
  fs.writeFileSync(path.join(dir, 'one.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 600\n');
  await emperor.waitEvent('app-started', 'one.ini');
  assert.deepEqual(readers(), [warm], 'the vassal was read by the reader started with the emperor');
});
