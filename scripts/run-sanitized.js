#!/usr/bin/env node
// The vassal init and the agent under AddressSanitizer and UndefinedBehaviorSanitizer: builds them into
// build/Sanitize (dynamic: the sanitizers' runtimes are shared libraries; the shipped programs are static), with the
// flags and sources binding.gyp gives them, then runs the test files named on the command line (as run-tests.js
// filters them) with EMPEROR_SANITIZED=1, which makes the emperor and the tests start these builds
// (src/package-info.ts). Fails on a failed test and on any sanitizer report, including one from a process whose
// test passed: every report is a file in REPORTS (native/sanitize/default_options.cc).
//   node scripts/run-sanitized.js jail. agent.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'Sanitize');
const REPORTS = '/tmp/emperor-sanitizer';
const PROGRAMS = ['emperor-init', 'emperor-agent'];
const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g', '-O1'];

/** binding.gyp is JSON with '#' comments; `<!@(CMD)` expands to CMD's output words, as gyp does. */
function gyp() {
  const text = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').replace(/#.*$/gm, '');
  return JSON.parse(text);
}

function expand(list) {
  return list.flatMap((item) => {
    const m = /^<!@\((.*)\)$/.exec(item);
    return m ? execFileSync('sh', ['-c', m[1]], { cwd: root, encoding: 'utf8' }).split(/\s+/).filter(Boolean) : [item];
  });
}

function build(spec, defaults) {
  const optimization = /^-O/;
  const flags = [
    ...defaults.defines.map((d) => `-D${d}`),
    ...defaults.include_dirs.map((d) => `-I${path.join(root, d)}`),
    ...defaults.cflags_cc,
    ...(spec.cflags_cc ?? []).filter((f) => !optimization.test(f)),
    ...SANITIZE,
    `-DEMPEROR_SANITIZER_LOG="${REPORTS}/report"`,
  ];
  const sources = [...expand(spec.sources), 'native/sanitize/default_options.cc'];
  const target = path.join(out, spec.target_name);
  execFileSync('g++', [...flags, '-o', target, ...sources], { cwd: root, stdio: 'inherit' });
  return target;
}

const config = gyp();
fs.mkdirSync(out, { recursive: true });
for (const name of PROGRAMS) {
  const spec = config.targets.find((t) => t.target_name === name);
  if (!spec) throw new Error(`binding.gyp has no target ${name}`);
  console.log(`sanitized build: ${path.relative(root, build(spec, config.target_defaults))}`);
}

// Tenants' processes write reports too: the directory is everyone's, each report a file of its own.
fs.rmSync(REPORTS, { recursive: true, force: true });
fs.mkdirSync(REPORTS);
fs.chmodSync(REPORTS, 0o1777);
const tests = spawnSync(process.execPath, [path.join(__dirname, 'run-tests.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, EMPEROR_SANITIZED: '1' },
});
const reports = fs.readdirSync(REPORTS);
for (const r of reports) process.stderr.write(`--- ${r}\n${fs.readFileSync(path.join(REPORTS, r), 'utf8')}\n`);
if (reports.length) console.error(`sanitizers: ${reports.length} report(s)`);
process.exit(tests.status !== 0 ? (tests.status ?? 1) : reports.length ? 1 : 0);
