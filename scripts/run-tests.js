#!/usr/bin/env node
// Runs the whole suite with node's test runner. The suite needs root and the Debian packages that
// .ci/run installs; it fails loudly (never skips) when they are missing. With --unit, only the files marked
// `// unit: needs nothing but Node` (the config language, the tables, the plan, the wires, the layering): any user,
// no package, no addon, seconds.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const UNIT = /^\/\/ unit:/m;
const problems = [];
if (!unitOnly && process.getuid() !== 0) problems.push('the tests run as root (real namespaces, mounts and FUSE)');
for (const bin of unitOnly ? [] : ['uwsgi', 'fuse-zip', 'unionfs-fuse', 'fusermount3', 'busybox', 'etcd']) {
  try { execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }); } catch { problems.push(`${bin} is not installed (see .ci/run for the apt packages)`); }
}
if (!unitOnly && !fs.existsSync('/usr/lib/postgresql')) problems.push('postgresql is not installed (see scripts/install-deps.sh)');
if (!unitOnly && !fs.existsSync(path.join(root, 'build/Release/emperor_native.node'))) problems.push('the addon is not built: run npm install');
if (problems.length) {
  for (const p of problems) console.error(`test setup: ${p}`);
  process.exit(1);
}

function collect(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...collect(p));
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filter = args.filter((a) => a !== '--unit');
let files = collect(path.join(root, 'dist/test')).sort();
if (unitOnly) files = files.filter((f) => UNIT.test(fs.readFileSync(f, 'utf8')));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
// A hung test fails at this bound instead of hanging CI. Node 20 applies it to each test file as a whole too (the
// slowest files, emperor.robustness and native.cycles, take about 40 s alone), hence the margin for a busy machine.
const TEST_TIMEOUT_MS = 180_000;
// Files that bound how long the emperor may take to answer (a stalled event loop is the failure they look for) run
// after the others, one at a time, so that what they measure is the emperor and not a neighbour test's load. They
// say so in a comment line of their own.
const MARK = /^\/\/ timing-sensitive:/m;
const alone = files.filter((f) => MARK.test(fs.readFileSync(f, 'utf8')));
const together = files.filter((f) => !alone.includes(f));
let status = 0;
for (const [batch, concurrency] of [[together, 2], [alone, 1]]) {
  if (batch.length === 0) continue;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', ...batch],
    { stdio: 'inherit', cwd: root });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
