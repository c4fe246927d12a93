// spawn()'s configBind (native/addon/config_bind.cc): in the child's own mount namespace, before its uid changes,
// a snapshot is bind-mounted read-only over a file, and the spawn fails unless the name to check then leads to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openTmpdir } from './helpers/agents';
import { capture, setupFailure } from './helpers/native-proc';
import { spawn } from '../src/native';

const NOBODY = 65534;

function layout(dir: string) {
  const snapshots = path.join(dir, 'snapshots');
  fs.mkdirSync(snapshots, { mode: 0o700 });
  const source = path.join(snapshots, 'app.1');
  fs.writeFileSync(source, 'verified\n', { mode: 0o400 });
  fs.chownSync(source, NOBODY, NOBODY);
  fs.mkdirSync(path.join(dir, 'conf'));
  const target = path.join(dir, 'conf/app.ini');
  fs.writeFileSync(target, 'on the host\n');
  fs.symlinkSync(target, path.join(dir, 'link.ini'));
  const st = fs.statSync(source);
  return { source, target, link: path.join(dir, 'link.ini'), dev: st.dev, ino: st.ino };
}

test('the child reads the snapshot at the name, read-only, nosuid, nodev, noexec, after its uid drop; the host keeps its file', async (t) => {
  const dir = openTmpdir(t, 'configbind');
  const { source, target, link, dev, ino } = layout(dir);
  const script = `cat ${link}; grep ' ${target} ' /proc/self/mountinfo | cut -d' ' -f6; echo x >> ${target} 2>/dev/null || echo read-only`;
  const { stdout, exit } = await capture({
    file: '/bin/sh',
    argv: ['sh', '-c', script],
    env: {},
    namespaces: ['mount'],
    mountPropagation: 'slave',
    uid: NOBODY,
    gid: NOBODY,
    groups: [],
    configBind: { source, target, check: link, dev, ino },
  });
  assert.deepEqual(exit, { code: 0, signal: null });
  const [content, options, write] = stdout.trim().split('\n');
  assert.equal(content, 'verified');
  assert.deepEqual(
    options
      .split(',')
      .filter((o) => ['ro', 'nosuid', 'nodev', 'noexec'].includes(o))
      .sort(),
    ['nodev', 'noexec', 'nosuid', 'ro'],
  );
  assert.equal(write, 'read-only');
  assert.equal(fs.readFileSync(target, 'utf8'), 'on the host\n', 'the host never sees the mount');
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${target} `));
});

test('a name that leads elsewhere once the snapshot is mounted fails the spawn (config_check, ESTALE); a missing target (config_bind)', async (t) => {
  const dir = openTmpdir(t, 'configbind-check');
  const { source, target, dev, ino } = layout(dir);
  const elsewhere = path.join(dir, 'elsewhere.ini');
  fs.writeFileSync(elsewhere, 'x');
  const base = { file: '/bin/true', argv: ['true'], env: {}, namespaces: ['mount' as const] };
  const moved = await setupFailure({ ...base, configBind: { source, target, check: elsewhere, dev, ino } });
  assert.deepEqual([moved.error.step, moved.error.code, moved.error.syscall], ['config_check', 'ESTALE', 'stat']);
  assert.equal(moved.exit.code, 127);
  const other = await setupFailure({ ...base, configBind: { source, target, check: target, dev, ino: ino + 1 } });
  assert.equal(other.error.code, 'ESTALE', 'another inode at the name');
  const missing = await setupFailure({ ...base, configBind: { source, target: path.join(dir, 'gone.ini'), check: target, dev, ino } });
  assert.deepEqual([missing.error.step, missing.error.code, missing.error.syscall], ['config_bind', 'ENOENT', 'mount']);
});

test('configBind is refused without a mount namespace of its own, and with a relative path', () => {
  const opts = { file: '/bin/true', argv: ['true'], env: {} };
  const bind = { source: '/a', target: '/b', check: '/b', dev: 1, ino: 1 };
  assert.throws(() => spawn({ ...opts, configBind: bind }, () => {}), /option 'configBind' must be used with the mount namespace/);
  assert.throws(
    () => spawn({ ...opts, namespaces: ['mount'], configBind: { ...bind, target: 'b' } }, () => {}),
    /configBind' needs target: an absolute path/,
  );
});
