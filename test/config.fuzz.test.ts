// Fuzzing the reader with random and mutated configs (seeded, bounded in count and time), which also name devices, a
// FIFO, /proc files, directories and symlinks to them: it never crashes or hangs, and every failure is a ConfigError
// with a line number.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../src/config';
import { load } from './helpers/config-host';
import { prng } from './helpers/fuzz';

const CASES = 5000;
const BUDGET_MS = 30_000;
const FIXTURES = path.resolve(__dirname, '../../test/fixtures/config');
const CORPUS = path.resolve(__dirname, '../../test/fixtures/corpus');

const KEYS = [
  'socket',
  'master',
  'processes',
  'env',
  'hook-as-root',
  'a',
  'b',
  'if-env',
  'if-not-env',
  'if-opt',
  'if-not-opt',
  'if-exists',
  'if-not-exists',
  'if-file',
  'if-dir',
  'if-reload',
  'if-not-reload',
  'endif',
  'end',
  'for',
  'for-times',
  'for-readline',
  'endfor',
  'ini',
  'include',
  'yaml',
  'json',
  'inherit',
  'set',
  'set-ph',
  'listen',
  'plugins',
  'if-hostname',
  'for-glob',
  '',
  ' ',
  '[uwsgi]',
  '[other]',
  ';',
  '#',
  '=',
  'exit',
  'xml',
];
const VALUES = [
  '1',
  'true',
  '',
  '%n',
  '%d',
  '%(a)',
  '%(a + 1)',
  '%(b * a)',
  '$(HOME)',
  '$(NOPE)',
  '@(lines.txt)',
  '@(missing)',
  'inc.ini',
  'a.json',
  'b.yml',
  'lines.txt',
  'other.ini:sec',
  ':other',
  'HOME',
  'HOME=/',
  'a=1',
  'x y z',
  '3',
  '%',
  '%%',
  '%(',
  '%(_)',
  '(',
  ')',
  '$(',
  '@(',
  '%z',
  '\u00e9',
  '\t',
  '\r',
  'v.ini',
  'glob*',
  'nope.ini',
  '%(%(a))',
  '$($(HOME))',
  '%x%X%N',
  // what a hostile file names: devices, a FIFO, /proc, symlinks to them, directories
  '/dev/zero',
  '/dev/null',
  '/dev/urandom',
  '/dev/stdin',
  'fifo.ini',
  'zero.ini',
  'proc.ini',
  'dir.ini',
  '/proc/self/status',
  '/proc/self/environ',
  '/proc/self',
  '/dev',
  '@(/dev/zero)',
  '@(fifo.ini)',
  '@(/proc/self/status)',
  '@(zero.ini)',
  '@(/dev)',
];
const JUNK = ['\n', '\r\n', '\0', '\uFEFF', '"', '{', '}', '[', ']', ':', '- ', '  ', '\t', '%', '(', ')', '=', '#'];

function pick<T>(r: () => number, xs: T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomIni(r: () => number): string {
  const lines: string[] = [];
  const n = 1 + Math.floor(r() * 30);
  if (r() < 0.9) lines.push('[uwsgi]');
  for (let i = 0; i < n; i++) {
    let v = '';
    for (let k = Math.floor(r() * 3); k >= 0; k--) v += pick(r, VALUES);
    lines.push(r() < 0.1 ? pick(r, JUNK) + v : `${pick(r, KEYS)} = ${v}`);
  }
  return lines.join(r() < 0.2 ? '\r\n' : '\n');
}

function randomJson(r: () => number): string {
  const members = Array.from(
    { length: Math.floor(r() * 8) },
    () =>
      `${JSON.stringify(pick(r, KEYS))}: ${pick(r, [
        JSON.stringify(pick(r, VALUES)),
        'true',
        'false',
        'null',
        '12',
        '1.5e3',
        `[${JSON.stringify(pick(r, VALUES))}, 1]`,
        '{"x": 1}',
      ])}`,
  );
  return `{"uwsgi": {${members.join(', ')}}}`;
}

function randomYaml(r: () => number): string {
  const lines = ['uwsgi:'];
  for (let i = Math.floor(r() * 10); i >= 0; i--) {
    const key = pick(r, KEYS).replace(/[:#[\]{}]/g, '') || 'k';
    lines.push(r() < 0.2 ? `  ${key}:\n    - ${pick(r, VALUES)}\n    - x` : `  ${key}: ${pick(r, VALUES)}`);
  }
  return lines.join('\n');
}

function mutate(r: () => number, text: string): string {
  const chars = [...text];
  for (let k = 1 + Math.floor(r() * 6); k > 0; k--) {
    const at = Math.floor(r() * (chars.length + 1));
    const what = r();
    if (what < 0.3) chars.splice(at, 1);
    else if (what < 0.6) chars.splice(at, 0, pick(r, JUNK));
    else if (what < 0.8) chars.splice(at, 0, ...pick(r, VALUES));
    else chars.splice(at, Math.floor(r() * 40));
  }
  return chars.join('');
}

function seeds(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /\.(ini|json|yml|yaml|skel)$/.test(e.name)) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(FIXTURES);
  walk(CORPUS);
  return out;
}

test('random and mutated configs never crash or hang, and fail only with a ConfigError with a line', { timeout: 120_000 }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-config-fuzz-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'inc.ini'), '[uwsgi]\ninc = %n\n[sec]\ns = 1\n');
  fs.writeFileSync(path.join(dir, 'other.ini'), '[sec]\nx = %(a)\n');
  fs.writeFileSync(path.join(dir, 'a.json'), '{"uwsgi": {"j": "%n"}}');
  fs.writeFileSync(path.join(dir, 'b.yml'), 'uwsgi:\n  y: 1\n');
  fs.writeFileSync(path.join(dir, 'lines.txt'), 'one\ntwo\n');
  execFileSync('mkfifo', [path.join(dir, 'fifo.ini')]);
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.ini'));
  fs.symlinkSync('/proc/self/status', path.join(dir, 'proc.ini'));
  fs.mkdirSync(path.join(dir, 'dir.ini'));
  const corpus = seeds();
  assert.ok(corpus.length > 40);
  const r = prng(0x5eed);
  const started = Date.now();
  const counts = { ok: 0, errors: 0, warnings: 0 };
  let n = 0;
  for (; n < CASES && Date.now() - started < BUDGET_MS; n++) {
    const kind = n % 5;
    const ext = kind === 1 ? 'json' : kind === 2 ? 'yml' : 'ini';
    const text =
      kind === 0
        ? randomIni(r)
        : kind === 1
          ? r() < 0.5
            ? randomJson(r)
            : mutate(r, randomJson(r))
          : kind === 2
            ? r() < 0.5
              ? randomYaml(r)
              : mutate(r, randomYaml(r))
            : mutate(r, pick(r, corpus));
    const name = `v${n}.${ext}`;
    fs.writeFileSync(path.join(dir, name), text);
    try {
      const cfg = load(name, {
        cwd: dir,
        env: { HOME: '/root', UWSGI_FUZZ: String(n) },
        isReload: r() < 0.5,
        format: kind >= 3 ? 'ini' : undefined,
      });
      counts.ok++;
      counts.warnings += cfg.warnings.length;
      for (const w of cfg.warnings)
        assert.ok(Number.isInteger(w.line) && w.line >= 0, `case ${n}: warning without a line: ${JSON.stringify(w)}`);
    } catch (e) {
      if (!(e instanceof ConfigError)) assert.fail(`case ${n} threw ${String(e)} for:\n${JSON.stringify(text)}`);
      assert.ok(Number.isInteger(e.line) && e.line >= 1, `case ${n}: error without a line: ${e.message}\n${JSON.stringify(text)}`);
      assert.ok(e.file !== '' && e.message.startsWith(`${e.file}:${e.line}: `), e.message);
      assert.ok(!e.message.includes('internal error'), e.message);
      counts.errors++;
    } finally {
      fs.rmSync(path.join(dir, name));
    }
  }
  assert.ok(n >= 1000, `only ${n} cases ran in ${BUDGET_MS} ms`);
  assert.ok(counts.ok > 0 && counts.errors > 0, `the generator must reach both outcomes: ${JSON.stringify(counts)}`);
  t.diagnostic(`${n} cases: ${JSON.stringify(counts)}`);
});
