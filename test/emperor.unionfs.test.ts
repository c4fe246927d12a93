// End to end through the emperor: the FUSE tutorial's unionfs vassal (tutorials/ReliableFuse.rst), word for word but
// for its paths and port, run as a native vassal: `callret:chdir /`, unionfs-fuse copy-on-write over a shared
// read-only root, pivot_root into it, /proc and /dev in the new root, the old root detached, the app jailed as
// user001, and `mountpoint-check = /` respawning the vassal with its root back when the FUSE daemon dies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { testBinary } from './helpers/cc';
import { EmperorProcess, httpGet, killDaemonAndRespawn, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const ROOT_DIR = path.resolve(__dirname, '../..');
const TUTORIAL = path.join(ROOT_DIR, 'test/fixtures/config/fuse-tutorial/unionfs.ini');
const PORT = 20763;

test("the tutorial's unionfs vassal runs as a native vassal: copy-on-write root, pivot_root, respawned with its root back", async (t) => {
  const dir = tmpdir('unionfs');
  const ns = path.join(dir, 'ns');
  const precise = path.join(ns, 'precise');
  execFileSync(path.join(ROOT_DIR, 'scripts/make-rootfs.sh'), [precise], { timeout: 30000 });
  fs.appendFileSync(path.join(precise, 'etc/passwd'), 'user001:x:1001:1001::/:/bin/sh\n');
  fs.appendFileSync(path.join(precise, 'etc/group'), 'user001:x:1001:\n');
  fs.mkdirSync(path.join(precise, 'var/www'), { recursive: true });
  fs.writeFileSync(path.join(precise, 'var/www/index.html'), 'served from the union root\n');
  fs.copyFileSync(testBinary('jail-httpd', ['-static']), path.join(precise, 'bin/jail-httpd'));
  fs.chmodSync(path.join(precise, 'bin/jail-httpd'), 0o755);
  fs.mkdirSync(path.join(ns, 'cow/user001'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'ufs'));
  const baseListing = execFileSync('find', [precise], { encoding: 'utf8', timeout: 30000 });

  // the tutorial's own lines, with its absolute paths moved under this test's directory and its port changed
  const tutorial = fs
    .readFileSync(TUTORIAL, 'utf8')
    .replace(/(?<![\w.])\/(ns|ufs)(?=[\s,/]|$)/gm, `${dir}/$1`)
    .replace('http-socket = :9090', `http-socket = :${PORT}`);
  assert.match(tutorial, /^hook-pre-jail = callret:chdir \/$/m);
  assert.match(
    tutorial,
    new RegExp(
      `^hook-pre-jail = exec:unionfs-fuse -ocow,chroot=${dir}/ns,default_permissions,allow_other /precise=RO:/cow/%\\(uid\\)=RW ${dir}/ufs$`,
      'm',
    ),
  );
  // the native app in place of the tutorial's psgi app (whose plugin options a native vassal ignores)
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  fs.writeFileSync(
    path.join(vassals, 'unionfs.ini'),
    `${tutorial}unprivileged-binary-patch-arg = id -un > /tmp/cow-probe && cd /var/www && exec jail-httpd\n`,
  );

  const stats = '127.0.0.1:20764';
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-stats', stats]);
  t.after(() => emperor.kill());
  const serving = () =>
    until(
      async () => (await httpGet(PORT, '127.0.0.1', '/index.html')) === 'served from the union root\n',
      'the jailed app serving through the union',
    );
  await serving();

  const first = (await fetchStats(stats)).vassals[0];
  assert.deepEqual([first.id, first.state, first.native], ['unionfs.ini', 'running', 1]);
  const chdir = emperor.logs.find((l) => l.event === 'step' && l.option === 'hook-pre-jail' && l.step === 'call');
  assert.ok(chdir, 'callret:chdir / ran as a jail-plan step');
  assert.equal(
    fs.readFileSync(path.join(ns, 'cow/user001/tmp/cow-probe'), 'utf8'),
    'user001\n',
    "the jailed user's write lands in its copy-on-write branch",
  );
  assert.equal(fs.existsSync(path.join(precise, 'tmp/cow-probe')), false);
  assert.equal(
    fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`${dir}/ufs`),
    false,
    'the union is mounted only inside the vassal',
  );

  const second = await killDaemonAndRespawn(emperor, 'unionfs-fuse', stats, first.pid);
  assert.equal(second.deaths, 1);
  assert.ok(
    emperor.logs.some((l) => l.event === 'step-failed' && l.step === 'mountpoint-check' && l.path === '/'),
    'mountpoint-check = / saw the dead root',
  );
  await serving();

  fs.unlinkSync(path.join(vassals, 'unionfs.ini'));
  await until(() => emperor.vassalPids().length === 0, 'every process of the vassal gone, unionfs-fuse included');
  assert.equal(
    execFileSync('find', [precise], { encoding: 'utf8', timeout: 30000 }),
    baseListing,
    'the shared read-only root is unchanged',
  );
});
