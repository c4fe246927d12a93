// dir:// and glob:// monitors on real directories: inotify-driven events, the rescan safety net, symlinks, nofollow,
// owners, and createMonitor's choice of monitor.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMonitor } from '../src/monitors';
import type { Monitor, MonitorEvents, MonitorOptions, VassalSource } from '../src/monitors/types';
import { DirMonitor } from '../src/monitors/dir-monitor';
import { GlobMonitor } from '../src/monitors/glob-monitor';
import { expandGlob, parseGlob } from '../src/monitors/glob-pattern';
import { AsyncAgent } from '../src/agent/async';

type Kind = 'add' | 'change' | 'remove';
interface Ev {
  kind: Kind;
  src: VassalSource;
}

/** Collects monitor events; waitFor resolves on the first matching event at or after index `since`. */
class Recorder implements MonitorEvents {
  readonly events: Ev[] = [];
  private waiters: { pred: (e: Ev) => boolean; since: number; done: (e: Ev) => void }[] = [];
  add = (src: VassalSource): void => this.push({ kind: 'add', src });
  change = (src: VassalSource): void => this.push({ kind: 'change', src });
  remove = (src: VassalSource): void => this.push({ kind: 'remove', src });

  private push(e: Ev): void {
    this.events.push(e);
    const idx = this.events.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (idx < w.since || !w.pred(e)) return true;
      w.done(e);
      return false;
    });
  }

  mark(): number {
    return this.events.length;
  }

  of(kind: Kind, name: string, since = 0): Ev[] {
    return this.events.slice(since).filter((e) => e.kind === kind && e.src.name === name);
  }

  waitFor(kind: Kind, name: string, since: number, timeoutMs = 3000): Promise<Ev> {
    const hit = this.of(kind, name, since)[0];
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.done !== done);
        reject(
          new Error(
            `no ${kind} ${name} within ${timeoutMs} ms; events: ${this.events
              .slice(since)
              .map((e) => `${e.kind} ${e.src.name}`)
              .join(', ')}`,
          ),
        );
      }, timeoutMs);
      const done = (e: Ev): void => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiters.push({ pred: (e) => e.kind === kind && e.src.name === name, since, done });
    });
  }
}

// a long rescan period, so a test of an inotify path fails if only the safety-net rescan would have seen the change
const OPTS: MonitorOptions = { nofollow: false, tyrantNofollow: false, freqSeconds: 600, extraExtensions: [] };
const RESCANNING: MonitorOptions = { ...OPTS, freqSeconds: 1 };
// the monitors look through an agent process, as in the emperor
const FS = new AsyncAgent({ budgetMs: 5000 });
after(() => FS.close());

function tmpdir(t: { after(fn: () => void): void }): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-mon-')));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function started(t: { after(fn: () => void): void }, m: Monitor): Recorder {
  const r = new Recorder();
  m.start(r);
  t.after(() => m.stop());
  return r;
}

/** An mtime in the future (seconds), distinct per call, so a change never depends on the clock's granularity. */
let future = Math.floor(Date.now() / 1000) + 1000;
function bump(p: string, link = false): void {
  future += 10;
  if (link) fs.lutimesSync(p, future, future);
  else fs.utimesSync(p, future, future);
}

/** Writes a fence file and waits for its add: every event caused before it has been delivered by then. */
async function fence(r: Recorder, dir: string, name = `fence-${Math.random().toString(36).slice(2)}.ini`): Promise<void> {
  const since = r.mark();
  fs.writeFileSync(path.join(dir, name), '');
  await r.waitFor('add', name, since);
  await new Promise((res) => setTimeout(res, 60));
}

test('dir monitor: existing files at start, add, touch, remove, non-vassal names ignored', async (t) => {
  const d = tmpdir(t);
  fs.writeFileSync(path.join(d, 'old.ini'), '[uwsgi]\n');
  fs.writeFileSync(path.join(d, 'README'), '');
  const r = started(t, new DirMonitor(d, OPTS, FS));
  const old = await r.waitFor('add', 'old.ini', 0);
  assert.deepEqual(
    { ...old.src, mtimeMs: 0 },
    { name: 'old.ini', path: path.join(d, 'old.ini'), dir: d, mtimeMs: 0, uid: 0, gid: 0, monitor: d },
  );

  let since = r.mark();
  for (const n of ['a.ini', 'b.yaml', 'c.yml', 'd.json', 'e.xml', 'f.js', '.hidden.ini', 'app.skel', 'x.ini.socket', 'notes.txt'])
    fs.writeFileSync(path.join(d, n), '');
  for (const n of ['a.ini', 'b.yaml', 'c.yml', 'd.json', 'e.xml', 'f.js', '.hidden.ini']) await r.waitFor('add', n, since);
  await fence(r, d);
  for (const n of ['app.skel', 'x.ini.socket', 'notes.txt', 'README']) assert.equal(r.events.filter((e) => e.src.name === n).length, 0, n);

  since = r.mark();
  bump(path.join(d, 'a.ini'));
  const ch = await r.waitFor('change', 'a.ini', since);
  assert.equal(ch.src.mtimeMs, future * 1000);

  since = r.mark();
  fs.unlinkSync(path.join(d, 'a.ini'));
  const rm = await r.waitFor('remove', 'a.ini', since);
  assert.equal(rm.src.path, path.join(d, 'a.ini'));
  await fence(r, d);
  assert.equal(
    r.events
      .filter((e) => e.src.name === 'a.ini')
      .map((e) => e.kind)
      .join(','),
    'add,change,remove',
  );
});

test('dir monitor: an editor-style write + rename is one change, a backdated mtime none', async (t) => {
  const d = tmpdir(t);
  const p = path.join(d, 'app.ini');
  fs.writeFileSync(p, 'v1');
  const r = started(t, new DirMonitor(d, RESCANNING, FS));
  await r.waitFor('add', 'app.ini', 0);

  let since = r.mark();
  fs.renameSync(p, p + '~');
  fs.writeFileSync(path.join(d, '.app.ini.tmp'), 'v2');
  future += 10;
  fs.utimesSync(path.join(d, '.app.ini.tmp'), future, future);
  fs.renameSync(path.join(d, '.app.ini.tmp'), p);
  await r.waitFor('change', 'app.ini', since);
  await fence(r, d);
  assert.deepEqual(
    r.events
      .slice(since)
      .filter((e) => e.src.name === 'app.ini')
      .map((e) => e.kind),
    ['change'],
  );

  since = r.mark();
  fs.utimesSync(p, 1000, 1000);
  await fence(r, d);
  await new Promise((res) => setTimeout(res, 1100)); // the rescan (every second) must not see a change either
  assert.equal(r.of('change', 'app.ini', since).length, 0);
  // and a later mtime that is still below the highest one seen is no reload either (uWSGI keeps last_mod)
  fs.utimesSync(p, future - 5, future - 5);
  await fence(r, d);
  assert.equal(r.of('change', 'app.ini', since).length, 0);
});

test('dir monitor: owner change is a change (tyrant mode decides), extra extensions count', async (t) => {
  const d = tmpdir(t);
  const r = started(t, new DirMonitor(d, { ...OPTS, extraExtensions: ['.conf'] }, FS));
  fs.writeFileSync(path.join(d, 'app.conf'), '');
  await r.waitFor('add', 'app.conf', 0);
  const since = r.mark();
  fs.chownSync(path.join(d, 'app.conf'), 4321, 4322);
  const ch = await r.waitFor('change', 'app.conf', since);
  assert.equal(ch.src.uid, 4321);
  assert.equal(ch.src.gid, 4322);
});

test('dir monitor, default mode: symlinks follow their target, dangling ones are skipped', async (t) => {
  const d = tmpdir(t);
  fs.writeFileSync(path.join(d, 'app.skel'), '[uwsgi]\n');
  fs.symlinkSync('app.skel', path.join(d, 'app1.ini'));
  fs.symlinkSync('app.skel', path.join(d, 'app2.ini'));
  fs.symlinkSync('/nonexistent/emperor-target.ini', path.join(d, 'dangling.ini'));
  const r = started(t, new DirMonitor(d, OPTS, FS));
  const a1 = await r.waitFor('add', 'app1.ini', 0);
  await r.waitFor('add', 'app2.ini', 0);
  assert.equal(a1.src.path, path.join(d, 'app1.ini'), 'the link itself is the path');

  let since = r.mark();
  bump(path.join(d, 'app.skel'));
  await r.waitFor('change', 'app1.ini', since);
  await r.waitFor('change', 'app2.ini', since);

  since = r.mark();
  bump(path.join(d, 'app1.ini'), true); // touch --no-dereference: not a change when following links
  await fence(r, d);
  assert.equal(r.of('change', 'app1.ini', since).length, 0);
  assert.equal(r.events.filter((e) => e.src.name === 'dangling.ini').length, 0);
});

test("dir monitor, nofollow: the link's own mtime, so touch --no-dereference reloads one vassal", async (t) => {
  const d = tmpdir(t);
  fs.writeFileSync(path.join(d, 'app.skel'), '[uwsgi]\n');
  fs.symlinkSync('app.skel', path.join(d, 'app1.ini'));
  fs.symlinkSync('app.skel', path.join(d, 'app2.ini'));
  fs.symlinkSync('missing.skel', path.join(d, 'dangling.ini'));
  fs.lchownSync(path.join(d, 'app1.ini'), 777, 778);
  const r = started(t, new DirMonitor(d, { ...OPTS, nofollow: true, tyrantNofollow: true }, FS));
  const a1 = await r.waitFor('add', 'app1.ini', 0);
  assert.equal(a1.src.uid, 777, 'tyrantNofollow: owner of the link');
  await r.waitFor('add', 'app2.ini', 0);

  let since = r.mark();
  bump(path.join(d, 'app1.ini'), true);
  const ch = await r.waitFor('change', 'app1.ini', since);
  assert.equal(ch.src.mtimeMs, future * 1000);
  await fence(r, d);
  assert.equal(r.of('change', 'app2.ini', since).length, 0);

  since = r.mark();
  bump(path.join(d, 'app.skel'));
  await fence(r, d);
  assert.equal(r.events.slice(since).filter((e) => e.kind === 'change').length, 0);
  assert.equal(r.events.filter((e) => e.src.name === 'dangling.ini').length, 0);
});

test('dir monitor: the periodic rescan catches what inotify cannot see, and survives the directory being recreated', async (t) => {
  const d = tmpdir(t);
  const outside = tmpdir(t);
  const vdir = path.join(d, 'vassals');
  fs.mkdirSync(vdir);
  fs.writeFileSync(path.join(outside, 'target.skel'), '');
  fs.symlinkSync(path.join(outside, 'target.skel'), path.join(vdir, 'ext.ini'));
  const r = started(t, new DirMonitor(vdir, RESCANNING, FS));
  await r.waitFor('add', 'ext.ini', 0);

  // the target lives in a directory nobody watches: only the rescan can see its new mtime
  let since = r.mark();
  bump(path.join(outside, 'target.skel'));
  await r.waitFor('change', 'ext.ini', since, 3500);

  since = r.mark();
  fs.rmSync(vdir, { recursive: true });
  await r.waitFor('remove', 'ext.ini', since);
  fs.mkdirSync(vdir);
  fs.writeFileSync(path.join(vdir, 'back.ini'), '');
  await r.waitFor('add', 'back.ini', since, 3500);
  // the new directory is watched again: a file event is seen (by inotify or, at worst, the next rescan)
  fs.writeFileSync(path.join(vdir, 'again.ini'), '');
  await r.waitFor('add', 'again.ini', since, 3500);
});

test('a stopped monitor delivers nothing', async (t) => {
  const d = tmpdir(t);
  const m = new DirMonitor(d, RESCANNING, FS);
  const r = started(t, m);
  await fence(r, d);
  m.stop();
  const since = r.mark();
  fs.writeFileSync(path.join(d, 'late.ini'), '');
  m.rescan();
  await new Promise((res) => setTimeout(res, 1200));
  assert.equal(r.events.length, since);
  assert.throws(() => m.start(new Recorder()), /starts once/);
});

test('glob monitor: absolute pattern over subdirectories, names as the pattern spells them', async (t) => {
  const d = tmpdir(t);
  fs.mkdirSync(path.join(d, 'apps/a'), { recursive: true });
  fs.writeFileSync(path.join(d, 'apps/a/app.ini'), '');
  fs.writeFileSync(path.join(d, 'apps/a/other.ini'), '');
  const pattern = `${d}/apps/*/app.ini`;
  const r = started(t, new GlobMonitor(pattern, '/', OPTS, FS));
  const a = await r.waitFor('add', `${d}/apps/a/app.ini`, 0);
  assert.deepEqual(
    { ...a.src, mtimeMs: 0 },
    { name: `${d}/apps/a/app.ini`, path: `${d}/apps/a/app.ini`, dir: '/', mtimeMs: 0, uid: 0, gid: 0, monitor: pattern },
  );

  let since = r.mark();
  fs.mkdirSync(path.join(d, 'apps/b'));
  fs.writeFileSync(path.join(d, 'apps/b/app.ini'), '');
  await r.waitFor('add', `${d}/apps/b/app.ini`, since);
  // the new subdirectory is watched: a touch there is seen
  since = r.mark();
  bump(path.join(d, 'apps/b/app.ini'));
  await r.waitFor('change', `${d}/apps/b/app.ini`, since);

  since = r.mark();
  fs.rmSync(path.join(d, 'apps/a'), { recursive: true });
  await r.waitFor('remove', `${d}/apps/a/app.ini`, since);
  assert.equal(r.events.filter((e) => e.src.name.endsWith('other.ini')).length, 0);
});

test('glob monitor: a relative pattern keeps relative names and resolves against its cwd; dotfiles need a literal dot', async (t) => {
  const d = tmpdir(t);
  fs.mkdirSync(path.join(d, 'conf'));
  fs.writeFileSync(path.join(d, 'conf/x.ini'), '');
  fs.writeFileSync(path.join(d, 'conf/.hidden.ini'), '');
  const r = started(t, new GlobMonitor('conf/*.ini', d, OPTS, FS));
  const x = await r.waitFor('add', 'conf/x.ini', 0);
  assert.equal(x.src.path, path.join(d, 'conf/x.ini'));
  assert.equal(x.src.dir, d);
  const since = r.mark();
  fs.writeFileSync(path.join(d, 'conf/y.ini'), '');
  await r.waitFor('add', 'conf/y.ini', since);
  assert.equal(r.events.filter((e) => e.src.name.includes('hidden')).length, 0);
});

test('glob monitor: a directory the pattern needs that appears later is found by the rescan, then watched', async (t) => {
  const d = tmpdir(t);
  const r = started(t, new GlobMonitor(`${d}/later/*.ini`, '/', RESCANNING, FS));
  fs.mkdirSync(path.join(d, 'later'));
  fs.writeFileSync(path.join(d, 'later/first.ini'), '');
  await r.waitFor('add', `${d}/later/first.ini`, 0, 3500);
  fs.writeFileSync(path.join(d, 'later/second.ini'), '');
  await r.waitFor('add', `${d}/later/second.ini`, 0, 3500);
});

test('glob patterns: classes, negation, ?, escapes, as glob(3)', async (t) => {
  const d = tmpdir(t);
  for (const n of ['a1.ini', 'b2.ini', 'c3.ini', 'x.ini', '*.ini', '.d.ini']) fs.writeFileSync(path.join(d, n), '');
  const names = async (p: string): Promise<string[]> =>
    (await expandGlob(parseGlob(`${d}/${p}`), '/', 8, (dir) => fs.promises.readdir(dir).catch(() => null))).matches.map((m) =>
      path.basename(m.name),
    );
  assert.deepEqual(await names('[ab]*.ini'), ['a1.ini', 'b2.ini']);
  assert.deepEqual(await names('[!ab]?.ini'), ['c3.ini']);
  assert.deepEqual(await names('[a-b][0-9].ini'), ['a1.ini', 'b2.ini']);
  assert.deepEqual(await names('?.ini'), ['*.ini', 'x.ini']);
  assert.deepEqual(await names('\\*.ini'), ['*.ini']);
  assert.deepEqual(await names('.*.ini'), ['.d.ini']);
  assert.deepEqual(await names('*'), ['*.ini', 'a1.ini', 'b2.ini', 'c3.ini', 'x.ini']);
});

test('createMonitor chooses as uWSGI does', async (t) => {
  const d = tmpdir(t);
  fs.mkdirSync(path.join(d, 'vassals'));
  fs.symlinkSync(path.join(d, 'vassals'), path.join(d, 'link'));
  // monitors that are never started hold no watcher or timer
  const viaLink = await createMonitor(path.join(d, 'link'), OPTS, FS);
  assert.ok(viaLink instanceof DirMonitor);
  assert.equal(viaLink.id, path.join(d, 'vassals'), 'dir monitor shows the realpath');
  assert.ok((await createMonitor(`dir://${d}/vassals`, OPTS, FS)) instanceof DirMonitor);
  assert.ok((await createMonitor(`${d}/vass*`, OPTS, FS)) instanceof DirMonitor, 'a pattern matching exactly one directory');
  const missing = await createMonitor(`${d}/not-yet`, OPTS, FS);
  assert.ok(missing instanceof GlobMonitor, 'a missing directory is a glob that matches nothing');
  assert.equal(missing.id, `${d}/not-yet`);
  const g = await createMonitor(`glob://${d}/*/*.ini`, OPTS, FS);
  assert.ok(g instanceof GlobMonitor);
  assert.equal(g.id, `${d}/*/*.ini`);
  assert.ok((await createMonitor(`${d}/*`, OPTS, FS)) instanceof GlobMonitor, 'two matches');
  // a relative value is the emperor's cwd's, as `npm start` passes examples/vassals
  const cwd = process.cwd();
  process.chdir(d);
  t.after(() => process.chdir(cwd));
  const relative = await createMonitor('vassals', OPTS, FS);
  assert.ok(relative instanceof DirMonitor);
  assert.equal(relative.id, path.join(d, 'vassals'));
  assert.equal((await createMonitor('dir://link', OPTS, FS)).id, path.join(d, 'vassals'));
  await assert.rejects(() => createMonitor(`dir://${d}/nope`, OPTS, FS), /--emperor dir:\/\/.*nope.*no such file/i);
  await assert.rejects(() => createMonitor('zmq://tcp://127.0.0.1:5555', OPTS, FS), /unknown imperial monitor 'zmq:\/\/'/);
  await assert.rejects(() => createMonitor(d, { ...OPTS, freqSeconds: 0 }, FS), /emperor-freq must be a positive number/);
});
