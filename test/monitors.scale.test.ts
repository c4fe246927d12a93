// Monitors at scale and at shutdown: a thousand files at once are each reported exactly once, and a stopped monitor
// leaves nothing behind that would keep the process alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMonitor } from '../src/monitors';
import { AsyncAgent } from '../src/agent/async';
import type { VassalSource } from '../src/monitors/types';

const OPTS = { nofollow: false, tyrantNofollow: false, freqSeconds: 600, extraExtensions: [] };

function tmpdir(t: { after(fn: () => void): void }): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-monscale-')));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Counts events per kind and name; resolves `until` once `pred` holds. */
function counter() {
  const counts = { add: new Map<string, number>(), change: new Map<string, number>(), remove: new Map<string, number>() };
  let check: (() => void) | null = null;
  const bump =
    (kind: keyof typeof counts) =>
    (s: VassalSource): void => {
      counts[kind].set(s.name, (counts[kind].get(s.name) ?? 0) + 1);
      check?.();
    };
  const until = (pred: () => boolean, timeoutMs: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what} not reached within ${timeoutMs} ms: add ${counts.add.size}, remove ${counts.remove.size}`)),
        timeoutMs,
      );
      check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        check = null;
        resolve();
      };
      check();
    });
  return { counts, events: { add: bump('add'), change: bump('change'), remove: bump('remove') }, until };
}

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

test('1,000 files added at once are each reported once; 2,000 present at start likewise; removal of all', async (t) => {
  const d = tmpdir(t);
  for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(d, `pre${i}.ini`), '');
  const fs_ = new AsyncAgent({ budgetMs: 5000 });
  const m = await createMonitor(d, OPTS, fs_);
  const c = counter();
  m.start(c.events);
  t.after(() => {
    m.stop();
    fs_.close();
  });
  await c.until(() => c.counts.add.size === 2000, 10_000, '2,000 initial adds');

  for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(d, `new${i}.ini`), `[uwsgi]\nid = ${i}\n`);
  await c.until(() => c.counts.add.size === 3000, 10_000, '1,000 more adds');
  m.rescan(); // a full rescan on top must find nothing new
  await new Promise((res) => setTimeout(res, 400));
  assert.equal(total(c.counts.add), 3000, 'no name reported twice');
  assert.equal(total(c.counts.change), 0);
  assert.equal(total(c.counts.remove), 0);

  for (let i = 0; i < 1000; i++) fs.unlinkSync(path.join(d, `new${i}.ini`));
  await c.until(() => c.counts.remove.size === 1000, 10_000, '1,000 removes');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(total(c.counts.remove), 1000);
  assert.ok([...c.counts.remove.keys()].every((n) => n.startsWith('new')));
});

test('after stop() no watcher or timer keeps the process alive', async (t) => {
  const d = tmpdir(t);
  const mod = path.resolve(__dirname, '../src/monitors/index.js');
  const agentMod = path.resolve(__dirname, '../src/agent/async.js');
  const script = `
    const fs = require('fs');
    const agent = new (require(${JSON.stringify(agentMod)}).AsyncAgent)({ budgetMs: 5000 });
    require(${JSON.stringify(mod)}).createMonitor(${JSON.stringify(d)}, { nofollow: false, tyrantNofollow: false, freqSeconds: 1, extraExtensions: [] }, agent).then((m) => m.start({
      add(s) {
        m.stop();
        agent.close();
        // one loop turn later: closed handles are gone after the close phase
        setImmediate(() => setImmediate(() => console.log(JSON.stringify({ added: s.name, handles: process.getActiveResourcesInfo() }))));
      },
      change() {}, remove() {},
    }));
    setTimeout(() => fs.writeFileSync(${JSON.stringify(path.join(d, 'one.ini'))}, ''), 20).unref();
  `;
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, EMPEROR_LOG_FORMAT: 'json' },
  });
  let killTimer: NodeJS.Timeout | undefined;
  t.after(() => {
    clearTimeout(killTimer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  const code = await new Promise<number | string>((resolve) => {
    killTimer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running 10 s after stop()');
    }, 10_000);
    child.on('exit', (c, sig) => resolve(c ?? String(sig)));
  });
  assert.equal(code, 0, out);
  const report = JSON.parse(out.trim().split('\n').pop() as string);
  assert.equal(report.added, 'one.ini');
  assert.ok(!report.handles.includes('FSEventWrap') && !report.handles.includes('Timeout'), `left behind: ${report.handles}`);
});
