// The FUSE tutorial's first vassal (fuse-zip app mount, read-only, plus an as-root /proc mount) run by a tenant under a tyrant with
// `emperor-use-clone = fs,pid,user`: the vassal is root only inside its own user namespace, mapped to its file's
// owner, so it mounts FUSE itself (no setuid fusermount, which no_new_privs would defang) without host privilege.
// /dev/fuse is 0600 on this host; a tenant needs it openable (0666 is the usual distribution default), so the test
// sets that and restores the mode after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, tmpdir, vassalInit } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { createUser, procIdentity } from './helpers/users';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const PORT = 20621;

async function get(urlPath: string): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${PORT}${urlPath}`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

test("a tenant's fuse-zip vassal: mounted inside its own user namespace as its owner, invisible on the host", async (t) => {
  const alice = createUser(t);
  const dir = tmpdir('tyrantfuse');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'zip-src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'index.html'), 'hello from the zip\n');
  const archive = path.join(dir, 'app001.zip');
  execFileSync('zip', ['-q', '-r', archive, '.'], { cwd: src, timeout: 30000 });
  fs.chmodSync(archive, 0o644);
  const appdir = path.join(dir, 'app');
  fs.mkdirSync(appdir, { mode: 0o755 });
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  const file = path.join(vassals, 'app001.ini');
  fs.writeFileSync(
    file,
    [
      '[uwsgi]',
      `uid = ${alice.name}`,
      `gid = ${alice.name}`,
      '; mount FUSE filesystem under the app dir (but only if it is not a reload)',
      'if-not-reload =',
      `  exec-as-user = fuse-zip -r ${archive} ${appdir}`,
      'endif =',
      'hook-as-root = mount:proc none /proc',
      `http-socket = 127.0.0.1:${PORT}`,
      `mountpoint-check = ${appdir}`,
      `unprivileged-binary-patch-arg = exec ${process.execPath} ${APP} ${appdir}`,
    ].join('\n') + '\n',
    { mode: 0o644 },
  );
  fs.chownSync(file, alice.uid, alice.gid);

  const fuseMode = fs.statSync('/dev/fuse').mode & 0o7777;
  fs.chmodSync('/dev/fuse', 0o666);
  t.after(() => fs.chmodSync('/dev/fuse', fuseMode));

  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-use-clone', 'fs,pid,user']);
  t.after(() => emperor.kill());

  assert.equal(await until(() => get('/index.html'), 'the app to serve index.html from the zip'), 'hello from the zip\n');
  const whoami = JSON.parse((await get('/whoami'))!) as { uid: number };
  assert.equal(whoami.uid, 0, 'root inside its user namespace');

  const spawned = emperor.events('spawned', 'app001.ini')[0].pid as number;
  const init = vassalInit(spawned);
  const inside = childrenOf(init);
  const fuse = inside.filter((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'fuse-zip');
  assert.equal(fuse.length, 1, 'fuse-zip runs in the vassal');
  for (const pid of [spawned, init, ...inside]) {
    const id = procIdentity(pid);
    assert.deepEqual(id.uid, [alice.uid, alice.uid, alice.uid, alice.uid], `pid ${pid} is alice on the host`);
    assert.deepEqual(id.gid, [alice.gid, alice.gid, alice.gid, alice.gid], `pid ${pid}: alice's group on the host`);
    assert.equal(id.noNewPrivs, 1);
  }
  const steps = emperor.events('step', 'app001.ini').map((e) => e.option);
  assert.ok(steps.includes('hook-as-root'), `the as-root proc mount ran (steps: ${steps.join(', ')})`);
  assert.deepEqual(emperor.events('step-failed', 'app001.ini'), []);
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(appdir), false, 'the mount is not on the host');
  assert.deepEqual(fs.readdirSync(appdir), [], 'the host sees the empty directory');
});
