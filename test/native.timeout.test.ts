// A child stuck before exec (its cwd on a FUSE mount whose daemon is stopped) must not freeze the emperor: spawn
// kills it after setupTimeout and throws ETIMEDOUT with step 'setup_timeout'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn as cpSpawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, umount, type NativeError } from '../src/native';
import { killIfAlive, waitGone, zombieChildren } from './helpers/native-proc';

function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

test('a setup that hangs is killed after setupTimeout and reported as ETIMEDOUT', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-timeout-'));
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'sub', 'f'), 'x');
  fs.mkdirSync(mnt);
  execFileSync('zip', ['-qr', path.join(dir, 'a.zip'), 'sub'], { cwd: path.join(dir, 'src'), timeout: 30000 });
  const daemon = cpSpawn('fuse-zip', ['-f', '-r', path.join(dir, 'a.zip'), mnt], { stdio: 'ignore' });
  t.after(async () => {
    killIfAlive(daemon.pid!);
    await waitGone(daemon.pid!);
    if (isMounted(mnt)) umount(mnt, 'detach');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 500 && !isMounted(mnt); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(isMounted(mnt), 'fuse-zip mounted the archive');
  process.kill(daemon.pid!, 'SIGSTOP');

  let err: NativeError | undefined;
  try {
    spawn({ file: '/bin/true', argv: ['true'], env: [], cwd: path.join(mnt, 'sub'), setupTimeout: 300 }, () => {});
  } catch (e) {
    err = e as NativeError;
  }
  assert.deepEqual([err?.code, err?.errno, err?.step], ['ETIMEDOUT', -os.constants.errno.ETIMEDOUT, 'setup_timeout']);
  assert.deepEqual(zombieChildren(process.pid).filter((pid) => pid !== daemon.pid), []);
});
