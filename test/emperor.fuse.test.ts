// End to end through the emperor: the FUSE tutorial's first vassal. fuse-zip mounts the app read-only inside the
// vassal's own mount namespace; a dead FUSE daemon makes the vassal destroyed and respawned with the mount back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { comm, EmperorProcess, httpGet, killDaemonAndRespawn, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');

test('the tutorial fuse-zip vassal: the mount is private, and killing fuse-zip respawns the vassal with the mount back', async (t) => {
  const dir = tmpdir('fuse');
  const src = path.join(dir, 'zip-src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'index.html'), 'hello from the zip\n');
  const archive = path.join(dir, 'app.zip');
  execFileSync('zip', ['-q', '-r', archive, '.'], { cwd: src, timeout: 30000 });
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir);
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  const stats = '127.0.0.1:20550';
  fs.writeFileSync(
    path.join(vassals, 'zip.ini'),
    [
      '[uwsgi]',
      'if-not-reload =',
      `exec-pre-jail = fuse-zip -r -o allow_other ${archive} ${appdir}`,
      'endif =',
      `mountpoint-check = ${appdir}`,
      'check-interval = 0.1',
      'http-socket = 127.0.0.1:20551',
      'uid = nobody',
      'gid = nogroup',
      `unprivileged-binary-patch-arg = exec ${process.execPath} ${APP} ${appdir}`,
      '',
    ].join('\n'),
  );
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-use-clone', 'fs,pid', '--emperor-stats', stats]);
  t.after(async () => {
    await emperor.kill();
    // should the test fail halfway, a FUSE mount must not outlive it
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${appdir} `)) execFileSync('umount', ['-l', appdir], { timeout: 30000 });
  });

  const serving = () =>
    until(async () => (await httpGet(20551, '127.0.0.1', '/index.html')) === 'hello from the zip\n', 'the app serving the zipped file');
  await serving();
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${appdir} `), false, 'the FUSE mount is invisible on the host');
  assert.deepEqual(fs.readdirSync(appdir), [], 'the host sees the empty directory');
  const first = (await fetchStats(stats)).vassals[0];
  assert.equal(first.loyal, 1, 'loyal after its first request (the app speaks the protocol)');

  const second = await killDaemonAndRespawn(emperor, 'fuse-zip', stats, first.pid);
  assert.equal(second.deaths, 1);
  // a dead FUSE daemon answers ENOTCONN (ECONNABORTED once the kernel has aborted the connection)
  assert.ok(
    emperor.logs.some(
      (l) => l.event === 'step-failed' && l.step === 'mountpoint-check' && /^(ENOTCONN|ECONNABORTED)$/.test(String(l.code)),
    ),
    'the dead mount is logged with its errno',
  );
  await serving();
  assert.ok(
    emperor.taggedPids().some((p) => comm(p) === 'fuse-zip'),
    'a new fuse-zip serves the new instance',
  );

  fs.unlinkSync(path.join(vassals, 'zip.ini'));
  await until(() => emperor.vassalPids().length === 0, 'every process of the vassal gone, fuse-zip included');
});
