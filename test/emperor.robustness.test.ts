// End to end: what must never happen (an orphan after the emperor dies, a leaked fd, a bad vassal taking down the
// others) and the signals, with real emperor processes and real vassals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const SLEEPER = "unprivileged-binary-patch-arg = sh -c 'sleep 1000 & exec sleep 1000'\n";

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

test('the emperor SIGKILLed with 20 vassals running leaves none of their processes behind', async (t) => {
  const dir = tmpdir('sigkill');
  for (let i = 0; i < 18; i++) fs.writeFileSync(path.join(dir, `v${i}.ini`), `[uwsgi]\n${SLEEPER}`);
  // two real uWSGI vassals with workers: their masters die by the death signal, the workers with their master
  for (let i = 0; i < 2; i++) {
    fs.writeFileSync(
      path.join(dir, `u${i}.ini`),
      `[uwsgi]\nplugins = python3\nhttp-socket = 127.0.0.1:${20520 + i}\nmaster = true\nprocesses = 2\nuid = nobody\ngid = nogroup\n`,
    );
  }
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('spawned', undefined, 20);
  // each native vassal is init + sh-exec'd sleep + a background sleep; each uWSGI vassal a master and two workers
  await until(() => emperor.vassalPids().length >= 18 * 3 + 2 * 3, 'every vassal process up', 20000);
  process.kill(emperor.pid, 'SIGKILL');
  await emperor.waitExit();
  const left = await until(() => emperor.taggedPids().length === 0 && [], 'every vassal process gone', 10000).catch(() =>
    emperor.taggedPids(),
  );
  assert.deepEqual(left, [], `processes left behind: ${left.join(' ')}`);
});

test('bad configs beside good ones: the good run, each bad one is reported with file and line, the emperor keeps running', async (t) => {
  const dir = tmpdir('bad');
  const stats = '127.0.0.1:20530';
  fs.writeFileSync(path.join(dir, 'good.ini'), `[uwsgi]\n${SLEEPER}`);
  fs.writeFileSync(path.join(dir, 'unterminated.ini'), `[uwsgi]\nif-env = PATH\nprint = x\n${SLEEPER}`);
  fs.writeFileSync(path.join(dir, 'badjson.json'), '{"uwsgi": {"unprivileged-binary-patch-arg": "sleep 1",}}');
  fs.writeFileSync(path.join(dir, 'nobinary.ini'), `[uwsgi]\nunprivileged-binary-patch = /nonexistent/program\n`);
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  const blob = await until(async () => {
    const b = await fetchStats(stats);
    const by = (id: string) => b.vassals.find((v) => v.id === id);
    return by('good.ini')?.state === 'running' &&
      ['unterminated.ini', 'badjson.json', 'nobinary.ini'].every((id) => by(id)?.state === 'broken')
      ? b
      : undefined;
  }, 'the good vassal running and the three bad ones broken');
  const by = (id: string) => blob.vassals.find((v) => v.id === id)?.setup_error ?? '';
  assert.match(by('unterminated.ini'), /unterminated\.ini:2\b/, 'names the file and the line of the open if-env');
  assert.match(by('badjson.json'), /badjson\.json:1\b/);
  assert.match(by('nobinary.ini'), /nobinary\.ini:2\b.*ENOENT/);
  for (const id of ['unterminated.ini', 'badjson.json', 'nobinary.ini']) {
    assert.ok(
      emperor.logs.some((l) => l.vassal === id && l.level >= 50),
      `an error line in the log for ${id}`,
    );
  }
  // a broken config is not a crash loop: no respawn storm
  const spawnsOfBroken = emperor.events('spawned', 'nobinary.ini').length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(emperor.events('spawned', 'nobinary.ini').length, spawnsOfBroken);
  assert.equal(emperor.child.exitCode, null, 'the emperor is still running');

  // fixing the file brings it up
  fs.writeFileSync(path.join(dir, 'unterminated.ini'), `[uwsgi]\n${SLEEPER}`);
  await until(
    async () => (await fetchStats(stats)).vassals.find((v) => v.id === 'unterminated.ini')?.state === 'running',
    'the fixed vassal running',
  );
});

test('200 vassals churned: afterwards no orphan, no leaked fd, and the stats hold exactly the files that exist', async (t) => {
  const dir = tmpdir('churn');
  const stats = `${dir}.stats.sock`;
  const emperor = new EmperorProcess([
    '--emperor',
    dir,
    '--emperor-stats',
    stats,
    '--emperor-freq',
    '1',
    '--emperor-throttle',
    '10',
    '--emperor-max-throttle',
    '200',
  ]);
  t.after(async () => {
    await emperor.kill();
    fs.rmSync(stats, { force: true });
  });
  await until(() => fs.existsSync(stats), 'the stats socket');
  const baseline = fdCount(emperor.pid);
  const file = (i: number) => path.join(dir, `c${i}.ini`);
  for (let i = 0; i < 200; i++) fs.writeFileSync(file(i), `[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
  await until(
    async () => (await fetchStats(stats)).vassals.filter((v) => v.state === 'running').length === 200,
    '200 vassals running',
    60000,
  );

  // churn for a bounded time: add, touch, remove, kill -9
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const end = Date.now() + 6000;
  let next = 200;
  while (Date.now() < end) {
    const op = rnd(4);
    const existing = fs.readdirSync(dir).filter((f) => f.endsWith('.ini'));
    const pick = existing[rnd(existing.length || 1)];
    if (op === 0) fs.writeFileSync(file(next++), `[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
    else if (op === 1 && pick) {
      const tm = new Date(Date.now() + 1000 + rnd(5000));
      fs.utimesSync(path.join(dir, pick), tm, tm);
    } else if (op === 2 && pick) fs.unlinkSync(path.join(dir, pick));
    else if (op === 3) {
      const pids = emperor.vassalPids();
      if (pids.length) {
        try {
          process.kill(pids[rnd(pids.length)], 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }

  const files = () =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ini'))
      .sort();
  await until(
    async () => {
      const b = await fetchStats(stats);
      const ids = b.vassals.map((v) => v.id).sort();
      return JSON.stringify(ids) === JSON.stringify(files()) && b.vassals.every((v) => v.state === 'running');
    },
    'the stats to list exactly the files, all running',
    60000,
  );
  const n = files().length;
  // per running vassal the emperor holds its pidfd, its protocol socket and the read ends of its stdout and stderr
  // pipes, nothing else; besides, each of its (at most 2) config readers, idle ones exiting after 30 s, is a pidfd
  // and a socket too
  const readers = 2 * 2;
  assert.ok(fdCount(emperor.pid) <= baseline + 4 * n + 4 + readers, `fds: ${fdCount(emperor.pid)} with ${n} vassals, baseline ${baseline}`);

  for (const f of files()) fs.unlinkSync(path.join(dir, f));
  await until(async () => (await fetchStats(stats)).vassals.length === 0, 'every vassal gone', 60000);
  await until(() => emperor.vassalPids().length === 0, 'no orphan process', 10000);
  assert.ok(fdCount(emperor.pid) <= baseline + 2 + readers, `fds after: ${fdCount(emperor.pid)}, baseline ${baseline}`);
});

test('signals: HUP reloads every vassal, USR1 logs each one, TERM is Ragnarok and exits 0', async (t) => {
  const dir = tmpdir('signals');
  for (const n of ['a', 'b']) fs.writeFileSync(path.join(dir, `${n}.ini`), `[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('spawned', undefined, 2);
  process.kill(emperor.pid, 'SIGHUP');
  await emperor.waitLog((l) => ['a.ini', 'b.ini'].every((v) => l.some((x) => x.event === 'reload' && x.vassal === v)), 'both reloaded');
  process.kill(emperor.pid, 'SIGUSR1');
  await emperor.waitLog((l) => l.filter((x) => x.event === 'status').length >= 2, 'two status lines');
  assert.match(emperor.events('status')[0].msg, /^vassal instance [ab]\.ini \(last modified \d+\)/);
  process.kill(emperor.pid, 'SIGTERM');
  const exit = await emperor.waitExit();
  assert.equal(exit.code, 0);
  assert.ok(emperor.events('ragnarok').length === 1 && emperor.events('buried').length === 1);
  assert.deepEqual(emperor.taggedPids(), []);
});

test('an exec that fails in the child (reported after spawn() returned) shows the vassal broken, not respawned nor throttled', async (t) => {
  const dir = tmpdir('execfail');
  const bin = tmpdir('execfail-bin');
  t.after(() => fs.rmSync(bin, { recursive: true, force: true }));
  const stats = `${dir}.stats.sock`;
  // a binary-path that exists (so the emperor spawns it) but that the kernel refuses to exec: EACCES in the child
  const binary = path.join(bin, 'uwsgi');
  fs.writeFileSync(binary, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'app.ini'), '[uwsgi]\nhttp-socket = 127.0.0.1:0\n');
  const emperor = new EmperorProcess(['--emperor', dir, '--binary-path', binary, '--emperor-stats', stats]);
  t.after(async () => {
    await emperor.kill();
    fs.rmSync(stats, { force: true });
  });
  await emperor.waitEvent('setup-error', 'app.ini');
  await emperor.waitEvent('exit', 'app.ini');
  const error = String(emperor.events('setup-error', 'app.ini')[0].error);
  assert.equal(error, `execve failed (EACCES ${binary}): EACCES: Permission denied, execve '${binary}'`);
  const app = await until(async () => (await fetchStats(stats)).vassals.find((v) => v.id === 'app.ini'), 'the vassal in the stats');
  assert.deepEqual([app.state, app.setup_error, app.deaths], ['broken', error, 0]);
  // the exit of the failed child is no crash: no respawn, no blacklist
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(emperor.events('spawned', 'app.ini').length, 1);
  assert.deepEqual(emperor.events('throttled', 'app.ini'), []);
  assert.equal((await fetchStats(stats)).vassals.find((v) => v.id === 'app.ini')!.state, 'broken');
});
