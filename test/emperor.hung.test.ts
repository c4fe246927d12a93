// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// A FUSE mount whose daemon never answers (test/helpers/hungfs.c), under an include, a vassal directory, a vassal
// file and a jail plan's chdir: the emperor stays responsive, each affected vassal or path shows a timeout error,
// the other vassals keep serving, and everything recovers on its own once the daemon is killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { mountHungFs } from './helpers/hungfs';
import { probeStats } from './helpers/stats-probe';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const PORT = 20702;

test('a hung FUSE mount under an include, a vassal dir, a vassal file and a chdir', async (t) => {
  const base = tmpdir('hung');
  const hung = await mountHungFs(base);
  let emperor: EmperorProcess | undefined; // eslint-disable-line prefer-const -- assigned below, read by t.after registered first
  // in this order: a recursive removal that reached the mount before its release would hang the test itself
  t.after(async () => {
    await emperor?.kill();
    await hung.release();
    fs.rmSync(base, { recursive: true, force: true });
  });
  const dir = path.join(base, 'vassals');
  fs.mkdirSync(dir, { mode: 0o755 });
  const stats = path.join(base, 'stats.sock');
  fs.writeFileSync(
    path.join(dir, 'good.ini'),
    `[uwsgi]\nhttp-socket = 127.0.0.1:${PORT}\nunprivileged-binary-patch-arg = exec ${process.execPath} ${APP} /\n`,
  );
  fs.writeFileSync(path.join(dir, 'inc.ini'), `[uwsgi]\nini = ${hung.dir}/more.ini\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
  fs.writeFileSync(path.join(dir, 'cd.ini'), `[uwsgi]\nchdir = ${hung.dir}\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
  fs.symlinkSync(path.join(hung.dir, 'elsewhere.ini'), path.join(dir, 'linked.ini'));
  emperor = new EmperorProcess([
    '--emperor',
    dir,
    '--emperor',
    hung.dir,
    '--emperor-stats',
    stats,
    '--emperor-config-timeout',
    '1',
    '--emperor-jail-timeout',
    '1',
    '--emperor-freq',
    '1',
    '--emperor-throttle',
    '200',
    '--emperor-max-throttle',
    '1000',
  ]);
  await until(() => httpGet(PORT, '127.0.0.1', '/whoami'), 'the good vassal serving', 20000);
  const probe = probeStats(stats);

  const blob = await until(
    async () => {
      const b = await fetchStats(stats);
      const err = (id: string) => String(b.vassals.find((v) => v.id === id)?.setup_error ?? '');
      const paths = (b.monitor_errors ?? []).map((e) => e.path);
      return /timed out/.test(err('inc.ini')) &&
        /did not finish/.test(err('cd.ini')) &&
        paths.includes(hung.dir) &&
        paths.includes(path.join(dir, 'linked.ini'))
        ? b
        : undefined;
    },
    'the include, the chdir, the vassal dir and the linked file reported as hung',
    20000,
  );
  const err = (id: string) => String(blob.vassals.find((v) => v.id === id)!.setup_error);
  assert.match(err('inc.ini'), new RegExp(`inc\\.ini:2: ini: timed out after 1 s .*${hung.dir}/more\\.ini`));
  assert.match(err('cd.ini'), /cd\.ini:2: chdir: chdir did not finish within 1 s/);
  for (const e of blob.monitor_errors ?? []) assert.match(e.error, /timed out after 1 s/);
  assert.ok(await httpGet(PORT, '127.0.0.1', '/whoami'), 'the good vassal still serves');
  const during = await probe.stop();
  assert.deepEqual(during.failures, []);
  assert.ok(during.worst < 100, `the slowest stats answer took ${during.worst.toFixed(1)} ms`);

  // the daemon dies: every stuck process is released, and each vassal gets what the kernel says now (the dead
  // mount's ENOTCONN or ECONNABORTED, or ENOENT once it is gone)
  const hungDir = hung.dir;
  await hung.release();
  await until(
    async () => {
      const b = await fetchStats(stats);
      const v = (id: string) => b.vassals.find((x) => x.id === id);
      return (
        v('inc.ini')?.state === 'broken' &&
        /ENOENT|ENOTCONN|ECONNABORTED/.test(v('inc.ini')?.setup_error ?? '') &&
        v('cd.ini')?.state === 'broken' &&
        /chdir/.test(v('cd.ini')?.setup_error ?? '') &&
        (b.monitor_errors ?? []).length === 0
      );
    },
    'inc.ini and cd.ini broken with what the kernel says now, and no monitor error left',
    20000,
  );
  assert.ok(!fs.existsSync(hungDir));
  assert.ok(await httpGet(PORT, '127.0.0.1', '/whoami'), 'the good vassal still serves');
  // nothing of the emperor is left waiting on the dead mount
  for (const pid of emperor.taggedPids()) {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
    assert.notEqual(state, 'D', `pid ${pid} still in uninterruptible sleep`);
  }
});
