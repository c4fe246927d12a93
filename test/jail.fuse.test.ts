// The FUSE tutorial vassals: fuse-zip app mounts with mountpoint-check, the rw archive committed by an atexit
// hook, reload keeping the mount, and unionfs-fuse copy-on-write roots entered with pivot_root.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { INIT_EXIT_MOUNTPOINT } from '../src/jail';
import { childrenOf, planOf, startInit, tmpdir, type RunningInit, get } from './fixtures/vassal/harness';
import { comm } from './helpers/emperor-process';
import { until } from './helpers/wait';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const ROOT_DIR = path.resolve(__dirname, '../..');

/** A zip made by zip(1) from real files (entries need a regular-file mode for fuse-zip). */
function makeZip(dir: string, files: Record<string, string>): string {
  const src = path.join(dir, 'zip-src');
  fs.mkdirSync(src);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(src, name), text);
  const archive = path.join(dir, 'app.zip');
  execFileSync('zip', ['-q', '-r', archive, '.'], { cwd: src, timeout: 30000 });
  return archive;
}

function fuseDaemons(init: RunningInit, name: string): number[] {
  return childrenOf(init.child.pid).filter((p) => comm(p) === name);
}

function tutorialVassal(dir: string, archive: string, appdir: string, port: number, extra: string[] = []): string[] {
  return [
    `exec-pre-jail = fuse-zip -r -o allow_other ${archive} ${appdir}`,
    ...extra,
    `mountpoint-check = ${appdir}`,
    'check-interval = 0.1',
    `http-socket = 127.0.0.1:${port}`,
    'uid = nobody',
    'gid = nogroup',
    `unprivileged-binary-patch-arg = exec ${process.execPath} ${APP} ${appdir}`,
  ];
}

test('fuse-zip app mount: private to the vassal, and a dead FUSE daemon destroys the vassal for a clean respawn', async (t) => {
  const dir = tmpdir(t, 'fusezip');
  fs.chmodSync(dir, 0o755);
  const archive = makeZip(dir, { 'index.html': 'hello from the zip\n' });
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir);
  const file = path.join(dir, 'zip.ini');
  const plan = planOf(file, tutorialVassal(dir, archive, appdir, 20210));

  const first = startInit(t, plan);
  await until(() => first.protocol.includes(5), 'ready');
  assert.equal((await get('http://127.0.0.1:20210/index.html')).body, 'hello from the zip\n');
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${appdir} `), false);
  assert.deepEqual(fs.readdirSync(appdir), []);

  const [daemon] = fuseDaemons(first, 'fuse-zip');
  assert.ok(daemon, 'fuse-zip runs as a child of the init');
  process.kill(daemon, 'SIGKILL');
  assert.deepEqual(await first.waitExit(), { code: INIT_EXIT_MOUNTPOINT, signal: null });
  const report = first.steps.find((s) => !s.ok);
  // a dead FUSE daemon answers ENOTCONN (ECONNABORTED once the kernel has aborted the connection)
  assert.deepEqual([report?.step, report?.syscall, report?.path, report?.origin.line], ['mountpoint-check', 'statfs', appdir, 2]);
  assert.match(String(report?.code), /^(ENOTCONN|ECONNABORTED)$/);
  assert.deepEqual(first.failed, [], 'a dead mount is not a broken config');

  // What the emperor does next: a fresh instance, with the mount back.
  const second = startInit(t, plan);
  await until(() => second.protocol.includes(5), 'ready again');
  assert.equal((await get('http://127.0.0.1:20210/index.html')).body, 'hello from the zip\n');
  second.link.stop(2000);
  await second.waitExit();
});

test('a hung (SIGSTOPped) FUSE daemon fails the check within its bound instead of hanging the init', async (t) => {
  const dir = tmpdir(t, 'fusehung');
  fs.chmodSync(dir, 0o755);
  const archive = makeZip(dir, { 'index.html': 'x' });
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir);
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), tutorialVassal(dir, archive, appdir, 20212)));
  await until(() => init.protocol.includes(5), 'ready');
  const [daemon] = fuseDaemons(init, 'fuse-zip');
  process.kill(daemon, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(daemon, 'SIGKILL');
    } catch {
      /* gone with the namespace */
    }
  });
  assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_MOUNTPOINT, signal: null });
  const report = init.steps.find((s) => !s.ok);
  assert.deepEqual([report?.step, report?.code, report?.path], ['mountpoint-check', 'ETIMEDOUT', appdir]);
});

test('exec-as-user-atexit = fusermount -u commits a write through a read-write fuse-zip mount', async (t) => {
  const dir = tmpdir(t, 'fuserw');
  const archive = makeZip(dir, { 'old.txt': 'old\n' });
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir);
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `exec-pre-jail = fuse-zip ${archive} ${appdir}`,
      `exec-as-user-atexit = fusermount -u ${appdir}`,
      `unprivileged-binary-patch-arg = echo new > ${appdir}/new.txt && printf '\\001' >&$UWSGI_EMPEROR_FD && exec sleep 30`,
    ]),
  );
  await until(() => init.protocol.includes(1), 'the write');
  assert.doesNotMatch(execFileSync('zip', ['-sf', archive], { encoding: 'utf8', timeout: 30000 }), /new\.txt/);
  init.link.stop(3000);
  await init.waitExit();
  const atexit = init.steps.find((s) => s.origin.option === 'exec-as-user-atexit');
  assert.equal(atexit?.ok, true);
  assert.match(execFileSync('zip', ['-sf', archive], { encoding: 'utf8', timeout: 30000 }), /new\.txt/);
});

test('a reload restarts the app in the same namespaces, keeping the FUSE mount and the socket', async (t) => {
  const dir = tmpdir(t, 'fusereload');
  fs.chmodSync(dir, 0o755);
  const archive = makeZip(dir, { 'index.html': 'kept\n' });
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir);
  const counter = path.join(dir, 'counter');
  const file = path.join(dir, 'a.ini');
  const lines = tutorialVassal(dir, archive, appdir, 20213, [`exec-as-root = echo run >> ${counter}`]);
  const init = startInit(t, planOf(file, lines));
  const firstPid = await init.waitApp();
  await until(() => init.protocol.includes(5), 'ready');
  const [daemon] = fuseDaemons(init, 'fuse-zip');
  init.protocol.length = 0;

  init.link.reload(planOf(file, lines, false), 2000);
  const secondPid = await until(() => {
    const started = init.apps.filter((a) => 'pid' in a);
    return started.length === 2 && (started[1] as { pid: number }).pid;
  }, 'the new app');
  assert.notEqual(secondPid, firstPid);
  await until(() => init.protocol.includes(5), 'ready after reload');
  assert.equal((await get('http://127.0.0.1:20213/index.html')).body, 'kept\n');
  assert.deepEqual(fuseDaemons(init, 'fuse-zip'), [daemon], 'the same FUSE daemon, not a second mount');
  assert.equal(fs.readFileSync(counter, 'utf8'), 'run\nrun\n', 'as-root runs again, pre-jail does not');
  init.link.stop(2000);
  await init.waitExit();
});

test('unionfs-fuse copy-on-write roots over one shared base, entered with pivot_root', { timeout: 30000 }, async (t) => {
  const dir = tmpdir(t, 'unionfs');
  const base = path.join(dir, 'base');
  execFileSync(path.join(ROOT_DIR, 'scripts/make-rootfs.sh'), [base], { timeout: 30000 });
  const baseListing = execFileSync('find', [base], { encoding: 'utf8', timeout: 30000 });
  const tenant = (name: string, other: string): string[] => {
    const cow = path.join(dir, `cow-${name}`);
    const root = path.join(dir, `root-${name}`);
    fs.mkdirSync(cow);
    fs.mkdirSync(root);
    return [
      // chroot= keeps the daemon's root off the old root: pivot_root moves every process whose root is the old
      // root, and a FUSE daemon whose branch paths then resolve through its own mount deadlocks.
      `exec-pre-jail = unionfs-fuse -o cow,allow_other,suid,dev,chroot=${dir} /cow-${name}=RW:/base=RO ${root}`,
      `pivot_root = ${root} ${root}/.old_root`,
      'hook-as-root = mount:proc none /proc',
      'hook-as-root = mount:none /.old_root/dev /dev bind,rec',
      'hook-as-root = umount:/.old_root rec,detach',
      `unprivileged-binary-patch-arg = echo ${name} > /written-by-${name}; echo x > /tmp/tmp-${name}; ls / > /tmp/ls-${name}; test -e /written-by-${other} && echo leak > /tmp/leak; exit 0`,
    ];
  };
  const a = startInit(t, planOf(path.join(dir, 'a.ini'), tenant('a', 'b')));
  assert.deepEqual(await a.waitExit(), { code: 0, signal: null });
  const b = startInit(t, planOf(path.join(dir, 'b.ini'), tenant('b', 'a')));
  assert.deepEqual(await b.waitExit(), { code: 0, signal: null });

  assert.equal(fs.readFileSync(path.join(dir, 'cow-a/written-by-a'), 'utf8'), 'a\n');
  assert.equal(fs.readFileSync(path.join(dir, 'cow-b/written-by-b'), 'utf8'), 'b\n');
  assert.ok(fs.existsSync(path.join(dir, 'cow-a/tmp/tmp-a')));
  assert.equal(fs.existsSync(path.join(dir, 'cow-a/tmp/leak')) || fs.existsSync(path.join(dir, 'cow-b/tmp/leak')), false);
  assert.doesNotMatch(fs.readFileSync(path.join(dir, 'cow-b/tmp/ls-b'), 'utf8'), /written-by-a/);
  assert.match(fs.readFileSync(path.join(dir, 'cow-b/tmp/ls-b'), 'utf8'), /written-by-b/);
  assert.equal(execFileSync('find', [base], { encoding: 'utf8', timeout: 30000 }), baseListing, 'the shared base is unchanged');
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(dir, 'root-a')), false);
});
