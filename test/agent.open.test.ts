// The agent's OPEN (native/agent/checked_open.cc): one open of a file by a walk from / that follows every symlink
// itself, as the agent's own identity, answering the facts of whose the file is and the bytes of that very open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectHostError, openTmpdir, testPool } from './helpers/agents';
import { createUser } from './helpers/users';
import { mountFlipFs } from './helpers/hungfs';

test('the walk follows each link itself: the real path, the entry, every directory and link on the way, one name', async (t) => {
  const dir = openTmpdir(t, 'agent-open');
  const host = testPool(t).host(null, 5000);
  fs.mkdirSync(path.join(dir, 'conf/sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/sub/app.ini'), '[uwsgi]\n');
  fs.symlinkSync('../sub/./app.ini', path.join(dir, 'conf/sub/rel.ini'));
  fs.symlinkSync(path.join(dir, 'conf/sub/rel.ini'), path.join(dir, 'abs.ini'));
  const { facts, bytes } = host.open(path.join(dir, 'abs.ini'), 100);
  assert.equal(bytes.toString(), '[uwsgi]\n');
  assert.equal(facts.real, path.join(dir, 'conf/sub/app.ini'));
  assert.equal(facts.path, path.join(dir, 'abs.ini'));
  assert.deepEqual(facts.entry, { symlink: true, uid: 0, gid: 0, ino: fs.lstatSync(path.join(dir, 'abs.ini')).ino });
  assert.equal(facts.ino, fs.statSync(path.join(dir, 'conf/sub/app.ini')).ino);
  assert.equal(facts.nlink, 1);
  const links = facts.steps.filter((s) => s.type === 'symlink').map((s) => s.path);
  assert.deepEqual(links, [path.join(dir, 'abs.ini'), path.join(dir, 'conf/sub/rel.ini')]);
  const dirs = facts.steps.filter((s) => s.type === 'dir').map((s) => s.path);
  assert.equal(dirs[0], '/');
  for (const d of [dir, path.join(dir, 'conf'), path.join(dir, 'conf/sub')]) assert.ok(dirs.includes(d), `${d} in ${dirs.join(' ')}`);
  fs.linkSync(path.join(dir, 'conf/sub/app.ini'), path.join(dir, 'hard.ini'));
  assert.equal(host.open(path.join(dir, 'hard.ini'), 100).facts.nlink, 2, 'a hard link shows');
});

test('what is not one regular file at the end of at most 40 links is refused, a FIFO never waited on', async (t) => {
  const dir = openTmpdir(t, 'agent-open-refused');
  const host = testPool(t).host(null, 5000);
  fs.symlinkSync('b', path.join(dir, 'a'));
  fs.symlinkSync('a', path.join(dir, 'b'));
  await expectHostError(() => host.open(path.join(dir, 'a'), 100), 'ELOOP');
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  fs.symlinkSync('f', path.join(dir, 'l0'));
  for (let i = 1; i <= 41; i++) fs.symlinkSync(`l${i - 1}`, path.join(dir, `l${i}`));
  assert.equal(host.open(path.join(dir, 'l39'), 100).bytes.toString(), 'x', '40 links are followed');
  await expectHostError(() => host.open(path.join(dir, 'l40'), 100), 'ELOOP');
  await expectHostError(() => host.open(path.join(dir, 'f/x'), 100), 'ENOTDIR');
  await expectHostError(() => host.open(path.join(dir, 'f/'), 100), 'ENOTDIR');
  await expectHostError(() => host.open(dir, 100), 'EISDIR');
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  await expectHostError(() => host.open(path.join(dir, 'fifo'), 100), 'ENOTREG', /it is a FIFO, not a regular file \(not read\)/);
  await expectHostError(() => host.open(path.join(dir, 'missing'), 100), 'ENOENT');
  fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(101));
  await expectHostError(() => host.open(path.join(dir, 'big'), 100), 'EFBIG');
});

test("the walk is the owner's: a directory she may not search is EACCES, whatever root could", async (t) => {
  const alice = createUser(t);
  const dir = openTmpdir(t, 'agent-open-tenant');
  fs.mkdirSync(path.join(dir, 'private'), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'private/app.ini'), '[uwsgi]\n', { mode: 0o644 });
  fs.symlinkSync(path.join(dir, 'private/app.ini'), path.join(dir, 'link.ini'));
  const host = testPool(t).host({ uid: alice.uid, gid: alice.gid, groups: [alice.gid] }, 5000);
  await expectHostError(() => host.open(path.join(dir, 'link.ini'), 100), 'EACCES');
});

test("on FUSE: the mount's user_id is reported for the file and its directory, and the bytes are those of the one open", async (t) => {
  const alice = createUser(t);
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-flip-'));
  fs.chmodSync(parent, 0o755);
  const rootDaemon = await mountFlipFs(parent, { owner: alice, first: '[uwsgi]\nfirst = 1\n', second: '[uwsgi]\nsecond = 2\n' });
  const alicesDaemon = await mountFlipFs(parent, { owner: alice, first: 'a', second: 'b', daemonUid: alice.uid });
  t.after(async () => {
    await rootDaemon.release();
    await alicesDaemon.release();
    fs.rmSync(parent, { recursive: true, force: true });
  });
  const host = testPool(t).host({ uid: alice.uid, gid: alice.gid, groups: [alice.gid] }, 5000);
  const file = path.join(rootDaemon.dir, 'vassal.ini');
  const { facts, bytes } = host.open(file, 100);
  assert.equal(bytes.toString().trimEnd(), '[uwsgi]\nfirst = 1', 'the bytes of the first open: the one the walk made');
  assert.equal(facts.uid, alice.uid, 'the owner its daemon reports');
  assert.equal(facts.fuse, 0);
  assert.equal(facts.steps.at(-1)?.fuse, 0, 'the mount root is on FUSE too');
  assert.equal(facts.steps[0].fuse, undefined, '/ is not');
  assert.equal(fs.readFileSync(file, 'utf8').trimEnd(), '[uwsgi]\nsecond = 2', 'any later open gets the second bytes');
  assert.equal(host.open(path.join(alicesDaemon.dir, 'vassal.ini'), 100).facts.fuse, alice.uid);
});
