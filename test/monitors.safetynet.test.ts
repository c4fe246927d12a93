// The periodic safety net costs the same whatever the number of vassals: a directory stat, a listing only when the
// directory changed, and SLICE vassal files per check, round robin. What inotify cannot see is still found: an edit
// of a symlinked vassal's target outside the watched directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMonitor } from '../src/monitors';
import { SLICE } from '../src/monitors/file-monitor';
import { AsyncAgent } from '../src/agent/async';
import type { DirStamp, MonitorFs, SourceStat, StatModes, VassalSource } from '../src/monitors/types';
import type { HostError } from '../src/host-fs';
import { within } from './helpers/wait';

const FILES = 2 * SLICE + 50;

/** The emperor's agent, counting what the monitor asks of it. */
class CountingFs implements MonitorFs {
  readonly statBatches: number[] = [];
  readdirs = 0;
  dirStamps = 0;
  constructor(private readonly agent: AsyncAgent) {}
  readdir(dir: string): Promise<string[]> {
    this.readdirs++;
    return this.agent.readdir(dir);
  }
  dirStamp(dir: string): Promise<DirStamp | null> {
    this.dirStamps++;
    return this.agent.dirStamp(dir);
  }
  realpath(p: string): Promise<string> {
    return this.agent.realpath(p);
  }
  statSources(paths: readonly string[], modes: StatModes): Promise<Array<SourceStat | HostError | null>> {
    this.statBatches.push(paths.length);
    return this.agent.statSources(paths, modes);
  }
}

test('the safety net stats at most SLICE files per check, lists only a changed directory, and still sees an edit outside it', async (t) => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-safetynet-')));
  const dir = path.join(root, 'vassals');
  fs.mkdirSync(dir);
  const target = path.join(root, 'skel.ini');
  fs.writeFileSync(target, '[uwsgi]\n');
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(dir, `v${i}.ini`), '');
  fs.symlinkSync(target, path.join(dir, 'linked.ini'));
  const agent = new AsyncAgent({ budgetMs: 5000 });
  const counting = new CountingFs(agent);
  const freqSeconds = 0.1;
  const m = await createMonitor(dir, { nofollow: false, tyrantNofollow: false, freqSeconds, extraExtensions: [] }, counting);
  const added = new Set<string>();
  const changed: VassalSource[] = [];
  let wake: (() => void) | undefined;
  const until = (pred: () => boolean, ms: number, what: string) =>
    within(
      new Promise<void>((resolve) => {
        const check = () => (pred() ? resolve() : (wake = check));
        check();
      }),
      ms,
      what,
    );
  m.start({
    add: (s) => (added.add(s.name), wake?.()),
    change: (s) => (changed.push(s), wake?.()),
    remove: () => {},
  });
  t.after(() => {
    m.stop();
    agent.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  await until(() => added.size === FILES + 1, 10_000, 'every initial add');

  // a directory changed within the last 2 s may change again within the same timestamp: it is listed until then
  await new Promise((r) => setTimeout(r, 2500));
  const quietFrom = counting.statBatches.length;
  const readdirsBefore = counting.readdirs;
  await new Promise((r) => setTimeout(r, 6 * freqSeconds * 1000));
  const quiet = counting.statBatches.slice(quietFrom);
  assert.ok(quiet.length >= 3, `periodic checks ran: ${quiet.length}`);
  assert.ok(
    quiet.every((n) => n <= SLICE),
    `each check stats at most ${SLICE} files: ${quiet.join(',')}`,
  );
  assert.equal(counting.readdirs, readdirsBefore, 'a directory that did not change is not listed again');

  // no inotify event in the watched directory: only the round robin can see the target's new mtime
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(target, later, later);
  await until(() => changed.some((s) => s.name === 'linked.ini'), 10_000, 'the change of the symlinked target');
  assert.equal(changed.length, 1);
});
