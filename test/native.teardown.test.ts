// Children that exit while Node tears its environment down (the CLI closes its agents just before it ends): their
// exits must not reach freed N-API state. Before the addon stopped its watches in an environment cleanup hook,
// this script died of SIGSEGV in 15 runs of 20, and `emperor config` in 7 of 100.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const NATIVE = path.resolve(__dirname, '../src/native.js');

const SCRIPT = `
const native = require(${JSON.stringify(NATIVE)});
const devnull = require('node:fs').openSync('/dev/null', 'r');
const kids = [];
for (let i = 0; i < 64; i++) {
  const c = native.spawn({ file: '/bin/sleep', argv: ['sleep', '100'], env: {}, fds: [devnull, 1, 2] }, () => {});
  c.unref();
  kids.push(c);
}
// the loop ends at once (every child unref'd): their deaths are seen during the teardown
setTimeout(() => { for (const c of kids) c.kill('SIGKILL'); }, 20);
`;

test('children dying during the environment teardown: the process still exits 0', () => {
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = spawnSync(process.execPath, ['-e', SCRIPT], { encoding: 'utf8', timeout: 20000 });
    outcomes.push(r.signal ?? `exit ${r.status}${r.stderr ? `: ${r.stderr.trim()}` : ''}`);
  }
  assert.deepEqual(outcomes, Array(4).fill('exit 0'));
});
