// Namespaces, credentials, capabilities and cgroup placement, checked from inside the child and in /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { capabilityNumber } from '../src/tables/capabilities';
import { capture, cgroup2Mount, killIfAlive, procStatus, start, started } from './helpers/native-proc';

const SH = '/bin/sh';
const env = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin' };

test('pid namespace: the child is pid 1', async () => {
  const { stdout, exit } = await capture({ env, file: SH, argv: ['sh', '-c', 'echo $$'], namespaces: ['pid'] });
  assert.equal(stdout, '1\n');
  assert.equal(exit.code, 0);
});

test('uts namespace: its own hostname, the host keeps its own', async () => {
  const name = `vassal-${randomUUID().slice(0, 8)}`;
  const host = os.hostname();
  const { stdout } = await capture({
    env,
    file: SH,
    argv: ['sh', '-c', 'cat /proc/sys/kernel/hostname'],
    namespaces: ['uts'],
    hostname: name,
  });
  assert.equal(stdout, `${name}\n`);
  assert.equal(os.hostname(), host);
});

test('mount namespace: a tmpfs mounted inside never shows in the host mountinfo', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-mntns-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = await started({
    env,
    file: SH,
    argv: ['sh', '-c', `mount -t tmpfs native-test-tmpfs ${dir} && grep -c ' ${dir} ' /proc/self/mountinfo && exec sleep 100`],
    namespaces: ['mount'],
    fds: [0, 2, 2],
  });
  t.after(() => killIfAlive(run.child.pid));
  // Inside: the mount is visible in the child's own mountinfo (polled until the shell got there).
  const deadline = Date.now() + 5000;
  let inside = '';
  while (!inside.includes(` ${dir} `) && Date.now() < deadline) {
    inside = fs.readFileSync(`/proc/${run.child.pid}/mountinfo`, 'utf8');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(inside.includes(` ${dir} `), 'the child mounted its tmpfs');
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `));
  run.child.kill('SIGKILL');
  await run.waitExit();
});

test('net namespace: only lo', async () => {
  const { stdout } = await capture({ env, file: '/bin/cat', argv: ['cat', '/proc/net/dev'], namespaces: ['net'] });
  const ifaces = stdout
    .split('\n')
    .slice(2)
    .filter(Boolean)
    .map((l) => l.split(':')[0].trim());
  assert.deepEqual(ifaces, ['lo']);
});

test('user namespace with uid/gid maps: root inside, the mapped uid outside', async (t) => {
  const run = await started({
    env,
    file: '/bin/sleep',
    argv: ['sleep', '100'],
    namespaces: ['user', 'pid', 'mount'],
    uidMap: '0 100000 65536',
    gidMap: '0 100000 65536',
  });
  t.after(() => killIfAlive(run.child.pid));
  const st = procStatus(run.child.pid);
  assert.equal(st.Uid, '100000\t100000\t100000\t100000');
  assert.equal(st.Gid, '100000\t100000\t100000\t100000');
  assert.equal(fs.readFileSync(`/proc/${run.child.pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536');
  run.child.kill('SIGKILL');
  await run.waitExit();

  const { stdout } = await capture({
    env,
    file: SH,
    argv: ['sh', '-c', 'id -u; id -g; cat /proc/self/setgroups'],
    namespaces: ['user'],
    uidMap: '0 100000 65536',
    gidMap: '0 100000 65536',
    uid: 1000,
    gid: 1000,
  });
  assert.equal(stdout, '1000\n1000\nallow\n');
});

test('uid, gid, groups, bounding and ambient capabilities, no_new_privs as asked', async (t) => {
  const nbs = capabilityNumber('net_bind_service');
  const kill = capabilityNumber('kill');
  const run = await started({
    env,
    file: '/bin/sleep',
    argv: ['sleep', '100'],
    uid: 65534,
    gid: 65534,
    groups: [100, 200],
    capBounding: [nbs, kill],
    capAmbient: [nbs],
    noNewPrivs: true,
  });
  t.after(() => killIfAlive(run.child.pid));
  const st = procStatus(run.child.pid);
  assert.equal(st.Uid, '65534\t65534\t65534\t65534');
  assert.equal(st.Gid, '65534\t65534\t65534\t65534');
  assert.equal(st.Groups, '100 200');
  const hex = (n: bigint) => n.toString(16).padStart(16, '0');
  assert.equal(st.CapAmb, hex(1n << BigInt(nbs)));
  assert.equal(st.CapEff, hex(1n << BigInt(nbs)));
  assert.equal(st.CapPrm, hex(1n << BigInt(nbs)));
  assert.equal(st.CapBnd, hex((1n << BigInt(nbs)) | (1n << BigInt(kill))));
  assert.equal(st.NoNewPrivs, '1');
  run.child.kill('SIGKILL');
  await run.waitExit();
});

test('without credentials asked, the child keeps root, full caps, its groups and NoNewPrivs 0', async (t) => {
  const run = await started({ env, file: '/bin/sleep', argv: ['sleep', '100'], groups: [] });
  t.after(() => killIfAlive(run.child.pid));
  const st = procStatus(run.child.pid);
  assert.equal(st.Uid, '0\t0\t0\t0');
  assert.equal(st.Groups, '');
  assert.equal(st.NoNewPrivs, '0');
  assert.equal(st.CapBnd, procStatus(process.pid).CapBnd);
  assert.equal(st.CapAmb, '0000000000000000');
  run.child.kill('SIGKILL');
  await run.waitExit();
});

test('cgroup: the child starts inside the given cgroup v2 directory', async (t) => {
  const root = cgroup2Mount();
  assert.ok(root, 'a cgroup2 hierarchy is mounted (see testing-notes.md)');
  const dir = path.join(root, `native-test-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(dir);
  const run = await started({ env, file: '/bin/sleep', argv: ['sleep', '100'], cgroup: dir });
  t.after(async () => {
    killIfAlive(run.child.pid);
    await run.waitExit();
    fs.rmdirSync(dir);
  });
  assert.deepEqual(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number), [run.child.pid]);
  run.child.kill('SIGKILL');
});

test('cgroup: a missing directory is an ENOENT naming it', () => {
  const root = cgroup2Mount() ?? '/sys/fs/cgroup';
  const dir = path.join(root, `native-missing-${randomUUID().slice(0, 8)}`);
  assert.throws(
    () => start({ env, file: '/bin/true', argv: ['true'], cgroup: dir }),
    (e: NodeJS.ErrnoException & { step?: string }) => e.code === 'ENOENT' && e.path === dir && e.step === 'cgroup',
  );
});

test("every namespace asked for is new, every other one is the parent's", async (t) => {
  const all = ['mnt', 'pid', 'net', 'ipc', 'uts', 'user', 'cgroup'] as const;
  const asked = { ipc: 'ipc', cgroup: 'cgroup', uts: 'uts' } as const;
  const run = await started({ env, file: '/bin/sleep', argv: ['sleep', '100'], namespaces: Object.values(asked) });
  t.after(() => killIfAlive(run.child.pid));
  for (const ns of all) {
    const mine = fs.readlinkSync(`/proc/self/ns/${ns}`);
    const its = fs.readlinkSync(`/proc/${run.child.pid}/ns/${ns}`);
    if (ns in asked) assert.notEqual(its, mine, ns);
    else assert.equal(its, mine, ns);
  }
  run.child.kill('SIGKILL');
  await run.waitExit();
});
