// Whose file it is (README "Whose file it is"), attacked as a tenant would: alice, a real second user, tries to run
// her bytes as bob, or bob's as him without his say, through symlinks, hard links, writable directories, swapped
// directories, a FUSE file whose bytes change between opens, races against reloads, an owner change and a sidecar
// file. Every payload would record the uid it ran as; no payload ever records bob's unless bob's own file, reached
// only through root's and bob's own path, asked for it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { cli, LongCli } from './helpers/cli';
import { mountFlipFs } from './helpers/hungfs';
import { killIfAlive, waitGone } from './helpers/native-proc';
import { freePorts } from './helpers/ports';
import { createUser, type TestUser } from './helpers/users';
import { until } from './helpers/wait';

interface Scene {
  alice: TestUser;
  bob: TestUser;
  /** root's, 0755: everything else is below it. */
  base: string;
  /** The vassal directory: root's, 1777 as in the issue unless asked otherwise. */
  vassals: string;
  /** Where payloads record who they ran as: `<tag>-<uid>` files. */
  out: string;
  /** Ends something of the test's after what was registered later (an emperor before the mounts it uses). */
  cleanup(fn: () => unknown): void;
}

function scene(t: TestContext, prefix: string, vassalsMode = 0o1777): Scene {
  const alice = createUser(t, { prefix: 'tya' });
  const bob = createUser(t, { prefix: 'tyb' });
  const base = tmpdir(prefix);
  const undo: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of undo.reverse()) await fn();
    fs.rmSync(base, { recursive: true, force: true });
  });
  const vassals = path.join(base, 'vassals');
  const out = path.join(base, 'out');
  fs.mkdirSync(vassals);
  fs.chmodSync(vassals, vassalsMode);
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o1777);
  return { alice, bob, base, vassals, out, cleanup: (fn) => undo.push(fn) };
}

/** A file of `owner`'s (mode 0644) with these lines. */
function owned(file: string, owner: TestUser | 0, text: string, mode = 0o644): string {
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  if (owner !== 0) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}

/** A native vassal that records the uid it runs as under `tag`, then sleeps. */
function nativePayload(s: Scene, tag: string): string {
  return `[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c 'id -u > ${s.out}/${tag}-\`id -u\`; exec sleep 3600'\n`;
}

/** A uWSGI vassal that records the uid it runs as under `tag` (at every exec of its master), serving on `port`. */
function uwsgiPayload(s: Scene, tag: string, port: number): string {
  return `[uwsgi]\nhttp-socket = 127.0.0.1:${port}\nexec-asap = sh -c 'id -u > ${s.out}/${tag}-\`id -u\`'\n`;
}

/** `<base>/<name>`, a directory of `user`'s own. */
function home(s: Scene, user: TestUser, name: string): string {
  const dir = path.join(s.base, name);
  fs.mkdirSync(dir);
  fs.chownSync(dir, user.uid, user.gid);
  return dir;
}

function link(target: string, at: string, owner: TestUser | 0): void {
  fs.symlinkSync(target, at);
  if (owner !== 0) fs.lchownSync(at, owner.uid, owner.gid);
}

/** The tags recorded so far, as 'tag-uid'. */
function recorded(s: Scene): string[] {
  return fs.readdirSync(s.out).sort();
}

async function refusedWith(emperor: EmperorProcess, vassal: string, reason: RegExp): Promise<void> {
  await emperor.waitEvent('refused', vassal);
  assert.match(emperor.events('refused', vassal)[0].msg, reason);
  assert.equal(emperor.events('spawned', vassal).length, 0, `${vassal} never runs`);
}

test("refused with its reason, bob's identity never used: a link to bob's file, a hard link, a writable directory, a directory swapped for a link", async (t) => {
  // a directory fs.protected_symlinks does not cover (not sticky), so that what is refused is refused by the tyrant
  const s = scene(t, 'identity-paths', 0o755);
  const { alice, bob, base, vassals } = s;
  const bobs = home(s, bob, 'bob');
  owned(path.join(bobs, 'bob.ini'), bob, nativePayload(s, 'bobs'));
  // alice's link to bob's file (planted by root for her: it stands for whatever way she found to put it there)
  link(path.join(bobs, 'bob.ini'), path.join(vassals, 'evil.ini'), alice);
  // a second name of a file of bob's, which root can make whatever fs.protected_hardlinks says
  fs.linkSync(owned(path.join(bobs, 'other.ini'), bob, nativePayload(s, 'hard')), path.join(vassals, 'hard.ini'));
  // bob's file in a directory everyone may write (no sticky bit): root's link leads there
  const open = path.join(base, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  owned(path.join(open, 'bob.ini'), bob, nativePayload(s, 'open'));
  link(path.join(open, 'bob.ini'), path.join(vassals, 'open.ini'), 0);
  // alice swapped her directory for a link to bob's: root's link to "her" file now reaches his
  link(bobs, path.join(base, 'alice'), alice);
  link(path.join(base, 'alice/bob.ini'), path.join(vassals, 'swap.ini'), 0);
  // what may run does: alice's own file, and bob's through root's link
  owned(path.join(vassals, 'alice.ini'), alice, nativePayload(s, 'alice'));
  link(path.join(bobs, 'bob.ini'), path.join(vassals, 'bobs.ini'), 0);

  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-freq', '1']);
  s.cleanup(() => emperor.kill());
  await refusedWith(
    emperor,
    'evil.ini',
    new RegExp(
      `the symlink ${vassals}/evil\\.ini on its path is uid ${alice.uid} \\(${alice.name}\\)'s, neither root's nor the owner's \\(uid ${bob.uid}`,
    ),
  );
  await refusedWith(emperor, 'hard.ini', /hard\.ini has 2 names \(hard links\)/);
  await refusedWith(
    emperor,
    'open.ini',
    new RegExp(`the directory ${open} on its path is writable by .*every user \\(mode 0777\\) without the sticky bit`),
  );
  await refusedWith(emperor, 'swap.ini', new RegExp(`the symlink ${base}/alice on its path is uid ${alice.uid}`));
  await until(() => recorded(s).includes(`alice-${alice.uid}`) && recorded(s).includes(`bobs-${bob.uid}`), 'the two vassals that may run');
  // a second look after two rescans: still nothing of bob's but his own file
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(recorded(s), [`alice-${alice.uid}`, `bobs-${bob.uid}`]);
  assert.equal(emperor.events('refused', 'evil.ini').length, 1, 'said once, not at every rescan');
});

test('a FUSE file that serves other bytes to every later open: native and uWSGI vassals run the bytes whose owner was checked; a reload the next checked ones', async (t) => {
  const s = scene(t, 'identity-fuse');
  const { alice, vassals } = s;
  const [port] = await freePorts(1);
  const mounts = path.join(s.base, 'mounts');
  fs.mkdirSync(mounts);
  const nativeFs = await mountFlipFs(mounts, {
    owner: alice,
    first: nativePayload(s, 'native-first'),
    second: nativePayload(s, 'native-second'),
  });
  s.cleanup(() => nativeFs.release());
  const uwsgiFs = await mountFlipFs(mounts, {
    owner: alice,
    first: uwsgiPayload(s, 'uwsgi-first', port),
    second: uwsgiPayload(s, 'uwsgi-second', port),
  });
  s.cleanup(() => uwsgiFs.release());
  link(path.join(nativeFs.dir, 'vassal.ini'), path.join(vassals, 'native.ini'), 0);
  link(path.join(uwsgiFs.dir, 'vassal.ini'), path.join(vassals, 'uw.ini'), 0);
  const control = path.join(s.base, 'control.sock');
  // ended first: its vassals' mount namespaces hold copies of the FUSE mounts
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-control', control]);
  s.cleanup(() => emperor.kill());
  await until(
    () => recorded(s).includes(`native-first-${alice.uid}`) && recorded(s).includes(`uwsgi-first-${alice.uid}`),
    'both vassals to run their first bytes',
  );
  // uWSGI opened its config by name itself: what it read there was the snapshot, not the FUSE file's next bytes
  await emperor.waitEvent('spawned', 'uw.ini');
  const uwsgiPid = emperor.events('spawned', 'uw.ini')[0].pid as number;
  assert.deepEqual(recorded(s), [`native-first-${alice.uid}`, `uwsgi-first-${alice.uid}`]);
  // a reload reads and checks again (the second bytes, alice's too), and uWSGI's exec then reads those
  const reload = await cli(['reload', 'uw.ini', '--control', control], { uid: alice.uid, gid: alice.gid });
  assert.equal(reload.code, 0, reload.stderr);
  await until(() => recorded(s).includes(`uwsgi-second-${alice.uid}`), "uWSGI's reload to run the second, checked bytes");
  assert.equal(emperor.events('spawned', 'uw.ini').length, 1, 'reloaded in place, not respawned');
  assert.equal(fs.readFileSync(`/proc/${uwsgiPid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1], String(alice.uid));
  assert.ok(!recorded(s).includes(`native-second-${alice.uid}`), 'the native vassal was never reloaded');
});

test('a file whose one open shows another owner than the scan saw (EOWNER) is read again as that owner, never run as the guess', async (t) => {
  const s = scene(t, 'identity-eowner');
  const { alice, bob, vassals } = s;
  const mounts = path.join(s.base, 'mounts');
  fs.mkdirSync(mounts);
  // alice's when looked at, bob's from its first open on: that open's bytes are never run, as alice or bob
  const flip = await mountFlipFs(mounts, { owner: alice, then: bob, first: nativePayload(s, 'guess'), second: nativePayload(s, 'real') });
  s.cleanup(() => flip.release());
  link(path.join(flip.dir, 'vassal.ini'), path.join(vassals, 'flip.ini'), 0);
  const stats = path.join(s.base, 'stats.sock');
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-stats', stats]);
  s.cleanup(() => emperor.kill());
  await until(() => recorded(s).includes(`real-${bob.uid}`), 'the vassal, as the owner its open showed');
  const found = emperor.events('owner-changed', 'flip.ini')[0];
  assert.deepEqual([found.uid, found.gid], [bob.uid, bob.gid]);
  assert.equal(emperor.events('spawned', 'flip.ini').length, 1);
  const v = (await fetchStats(stats)).vassals.find((x) => x.id === 'flip.ini')!;
  assert.deepEqual([v.uid, v.gid], [bob.uid, bob.gid]);
  assert.deepEqual(recorded(s), [`real-${bob.uid}`]);
});

/** Runs `code` (Python) as `user` until stopped (killed by pid, at the latest after the test); its stdout so far. */
function asUser(s: Scene, user: TestUser, code: string): { stop(): Promise<void>; stdout(): string } {
  const child = spawn('/usr/bin/python3', ['-u', '-c', code], { uid: user.uid, gid: user.gid, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const stop = async () => {
    killIfAlive(child.pid!);
    await waitGone(child.pid!, 5000);
  };
  s.cleanup(stop);
  return { stop, stdout: () => out };
}

/** Python that runs `body` forever, with `item` each of `items` in turn. */
function cycling(imports: string, items: string[], body: string[]): string {
  const head = [
    `import itertools, ${imports}`,
    `items = ${JSON.stringify(items)}`,
    'for i in itertools.count():',
    '    item = items[i % len(items)]',
  ];
  return [...head, ...body.map((l) => `    ${l}`)].join('\n');
}

/** Python that points `at` to each target in turn, every few milliseconds, as an atomic rename of a fresh link. */
function flipper(at: string, targets: string[]): string {
  const tmp = JSON.stringify(`${at}.flip`);
  return cycling('os, time', targets, [`os.symlink(item, ${tmp})`, `os.replace(${tmp}, ${JSON.stringify(at)})`, 'time.sleep(0.004)']);
}

/** Python that asks the control socket to reload each vassal in turn, as fast as it answers; one answer per line. */
function reloader(control: string, vassals: string[]): string {
  return cycling('socket, json', vassals, [
    'c = socket.socket(socket.AF_UNIX)',
    `c.connect(${JSON.stringify(control)})`,
    'c.sendall((json.dumps({"cmd": "reload", "vassal": item}) + "\\n").encode())',
    'print(c.makefile().readline().strip())',
    'c.close()',
  ]);
}

test("the issue's races lose: alice's link flipped between bob's file and her own, reloads and rescans in between, never runs anything as bob", async (t) => {
  const s = scene(t, 'identity-races');
  const { alice, bob } = s;
  const [port] = await freePorts(1);
  const bobs = home(s, bob, 'bob');
  // native: bob's own vassal file, and alice's payload; uWSGI: a plain text file of bob's, and alice's payload
  owned(path.join(bobs, 'nr2.ini'), bob, nativePayload(s, 'bob-nr2'));
  owned(path.join(bobs, 'notes.txt'), bob, 'just some notes of bob\n');
  const hers = home(s, alice, 'alice');
  // her own vassal directory (fs.protected_symlinks covers only sticky ones: what is refused is the tyrant's doing)
  const vassals = home(s, alice, 'alice-vassals');
  owned(path.join(hers, 'nr2.ini'), alice, nativePayload(s, 'nr2'));
  owned(path.join(hers, 'r1.ini'), alice, uwsgiPayload(s, 'r1', port));
  link(path.join(hers, 'nr2.ini'), path.join(vassals, 'nr2.ini'), alice);
  link(path.join(hers, 'r1.ini'), path.join(vassals, 'r1.ini'), alice);
  const control = path.join(s.base, 'control.sock');
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-control', control, '--emperor-freq', '1']);
  s.cleanup(() => emperor.kill());
  await until(() => recorded(s).includes(`nr2-${alice.uid}`) && recorded(s).includes(`r1-${alice.uid}`), "alice's two vassals, as alice");

  const flips = [
    asUser(s, alice, flipper(path.join(vassals, 'nr2.ini'), [path.join(bobs, 'nr2.ini'), path.join(hers, 'nr2.ini')])),
    asUser(s, alice, flipper(path.join(vassals, 'r1.ini'), [path.join(bobs, 'notes.txt'), path.join(hers, 'r1.ini')])),
  ];
  const reloads = asUser(s, alice, reloader(control, ['nr2.ini', 'r1.ini']));
  await new Promise((r) => setTimeout(r, 6000));
  for (const f of [...flips, reloads]) await f.stop();
  // whatever was in flight settles
  await new Promise((r) => setTimeout(r, 3000));
  const done = reloads
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"ok":true')).length;
  assert.ok(done >= 20, `${done} reloads asked and granted`);
  assert.ok(
    emperor.events('refused', 'nr2.ini').length + emperor.events('refused', 'r1.ini').length >= 1,
    'the link to bob was seen and refused',
  );
  const asBob = recorded(s).filter((r) => r.endsWith(`-${bob.uid}`));
  assert.deepEqual(asBob, [], 'nothing ran as bob');
});

test("an owner change is a new vassal: the old owner's rights and lines are gone at once, the new owner sees only its own", async (t) => {
  const s = scene(t, 'identity-owner');
  const { alice, bob, base, vassals } = s;
  const logsDir = path.join(base, 'logs');
  const control = path.join(base, 'control.sock');
  const stats = path.join(base, 'stats.sock');
  const file = owned(
    path.join(vassals, 'shared.ini'),
    bob,
    `[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c 'while :; do echo line-\`id -u\`; sleep 0.2; done'\n`,
  );
  const emperor = new EmperorProcess([
    '--emperor',
    vassals,
    '--emperor-tyrant',
    '--emperor-control',
    control,
    '--emperor-stats',
    stats,
    '--emperor-logs-dir',
    logsDir,
  ]);
  s.cleanup(() => emperor.kill());
  const asBob = { uid: bob.uid, gid: bob.gid };
  const asAlice = { uid: alice.uid, gid: alice.gid };
  const bobLine = `line-${bob.uid}`;
  const aliceLine = `line-${alice.uid}`;
  await emperor.waitLog((l) => l.some((e) => e.event === 'output' && e.msg === bobLine), "bob's vassal talking");
  const follow = new LongCli(['logs', 'shared.ini', '--follow', '--control', control], asBob);
  s.cleanup(() => follow.stop());
  await follow.waitFor((o) => o.includes(bobLine), "bob's follow");
  assert.match((await cli(['logs', 'shared.ini', '--control', control], asAlice)).stderr, /permission denied/);

  fs.chownSync(file, alice.uid, alice.gid);
  await emperor.waitEvent('owner-changed', 'shared.ini');
  await emperor.waitLog((l) => l.some((e) => e.event === 'output' && e.msg === aliceLine), "alice's instance talking");
  await until(() => follow.child.exitCode !== null, "bob's follow to be cut off");
  assert.match(follow.stderr, new RegExp(`permission denied: vassal shared.ini runs as uid ${alice.uid} now`));
  assert.doesNotMatch(follow.stdout, new RegExp(aliceLine), "bob never saw a line of alice's");
  for (const cmd of ['logs', 'reload', 'stop']) {
    const r = await cli([cmd, 'shared.ini', '--control', control], asBob);
    assert.equal(r.code, 1, `bob may not ${cmd} it any more`);
    assert.match(r.stderr, new RegExp(`vassal shared.ini runs as uid ${alice.uid}`));
  }
  const mine = await cli(['logs', 'shared.ini', '--lines', '1000', '--control', control], asAlice);
  assert.equal(mine.code, 0, mine.stderr);
  assert.match(mine.stdout, new RegExp(aliceLine));
  assert.doesNotMatch(mine.stdout, new RegExp(bobLine), "alice sees none of bob's lines");
  const v = (await fetchStats(stats)).vassals.find((x) => x.id === 'shared.ini')!;
  assert.deepEqual([v.uid, v.gid], [alice.uid, alice.gid]);
  // the log file is not shared across owners either: bob's lines were rotated away before alice's
  await until(() => fs.readFileSync(path.join(logsDir, 'shared.ini.log'), 'utf8').includes(aliceLine), "alice's log file");
  assert.doesNotMatch(fs.readFileSync(path.join(logsDir, 'shared.ini.log'), 'utf8'), new RegExp(bobLine));
  assert.match(fs.readFileSync(path.join(logsDir, 'shared.ini.log.1'), 'utf8'), new RegExp(bobLine));
  assert.doesNotMatch(fs.readFileSync(path.join(logsDir, 'shared.ini.log.1'), 'utf8'), new RegExp(aliceLine));
});

test("a sidecar linked to another user's 0600 token is refused unread: its text is never in the stats or the log", async (t) => {
  const s = scene(t, 'identity-sidecar');
  const { alice, bob, base, vassals } = s;
  const bobs = home(s, bob, 'bob');
  const secret = `TOKEN${process.pid}${Date.now()}`;
  owned(path.join(bobs, 'token.txt'), bob, `${secret}\n`, 0o600);
  const sleeper = `[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 3600\n`;
  owned(path.join(vassals, 'bobapp.ini'), bob, sleeper);
  link(path.join(bobs, 'token.txt'), path.join(vassals, 'bobapp.ini.socket'), alice);
  // bob's own sidecar works as before
  owned(path.join(vassals, 'good.ini'), bob, sleeper);
  const socket = path.join(bobs, 'good.sock');
  owned(path.join(vassals, 'good.ini.socket'), bob, `${socket}\n`);
  const stats = path.join(base, 'stats.sock');
  const emperor = new EmperorProcess([
    '--emperor',
    vassals,
    '--emperor-tyrant',
    '--emperor-on-demand-extension',
    '.socket',
    '--emperor-stats',
    stats,
  ]);
  s.cleanup(() => emperor.kill());
  await emperor.waitEvent('dormant', 'good.ini');
  const bobapp = await until(async () => {
    const v = (await fetchStats(stats)).vassals.find((x) => x.id === 'bobapp.ini');
    return v?.state === 'broken' ? v : undefined;
  }, 'bobapp.ini to be broken');
  assert.match(
    bobapp.setup_error ?? '',
    new RegExp(
      `on-demand socket: ${vassals}/bobapp\\.ini\\.socket: the symlink ${vassals}/bobapp\\.ini\\.socket on its path is uid ${alice.uid}`,
    ),
  );
  assert.equal((await fetchStats(stats)).vassals.find((x) => x.id === 'good.ini')!.on_demand, socket);
  const everything = JSON.stringify(await fetchStats(stats)) + JSON.stringify(emperor.logs) + emperor.stderrText;
  assert.ok(!everything.includes(secret), "the token's text is nowhere");
});
