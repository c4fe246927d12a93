// Bad input: where uWSGI gives up (or would loop), one ConfigError naming file, line and what is wrong; where it is
// lenient, the same result plus a warning with file and line.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, type ResolvedConfig } from '../src/config';
import { load as loadAs } from './helpers/config-host';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-config-errors-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(dir: string, name: string, text: string | Buffer): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${e.file}:${e.line}: `), `message names file:line: ${e.message}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

const load = (dir: string, spec: string, env: NodeJS.ProcessEnv = {}): ResolvedConfig => loadAs(spec, { cwd: dir, env });

test('an if- block left open is an error at its line', (t) => {
  const dir = tempDir(t);
  const f = write(dir, 'v.ini', '[uwsgi]\nmaster = true\nif-env = HOME\nsocket = :1\n');
  const e = failure(() => load(dir, 'v.ini', { HOME: '/' }));
  assert.equal(e.file, f);
  assert.equal(e.line, 3);
  assert.equal(e.option, 'if-env');
  assert.match(e.message, /unterminated if-env block/);
});

test('nested logic: an error when uWSGI would exit, a warning when it silently skips', (t) => {
  const dir = tempDir(t);
  write(dir, 'v.ini', '[uwsgi]\nif-env = HOME\nif-exists = /\na = 1\nendif =\nendif =\n');
  const e = failure(() => load(dir, 'v.ini', { HOME: '/' }));
  assert.equal(e.line, 3);
  assert.match(e.message, /nested logic/);
  const cfg = load(dir, 'v.ini', {});
  assert.deepEqual(
    cfg.options.map((o) => o.key),
    ['ini', 'if-env', 'endif', 'endif'],
  );
  assert.equal(cfg.warnings.length, 1);
  assert.equal(cfg.warnings[0].line, 3);
  assert.match(cfg.warnings[0].message, /if-exists inside the if-env block of line 2/);
});

test('an include cycle is an error at the including line', (t) => {
  const dir = tempDir(t);
  write(dir, 'a.ini', '[uwsgi]\nx = 1\nini = b.ini\n');
  const b = write(dir, 'b.ini', '[uwsgi]\n\nini = a.ini\n');
  const e = failure(() => load(dir, 'a.ini'));
  assert.equal(e.file, b);
  assert.equal(e.line, 3);
  assert.match(e.message, /include cycle/);
  write(dir, 'self.ini', '[uwsgi]\nini = :uwsgi\n');
  assert.match(failure(() => load(dir, 'self.ini')).message, /include cycle/);
});

test('a missing include names the file and line that asked for it', (t) => {
  const dir = tempDir(t);
  const f = write(dir, 'v.ini', '[uwsgi]\nsocket = :1\n\ninclude = %dnope.ini\n');
  const e = failure(() => load(dir, 'v.ini'));
  assert.equal(e.file, f);
  assert.equal(e.line, 4);
  assert.equal(e.option, 'include');
  assert.match(e.message, /nope\.ini/);
  const top = failure(() => load(dir, 'absent.ini'));
  assert.match(top.message, /absent\.ini/);
});

test('a file that is not UTF-8 is an error at the first bad line', (t) => {
  const dir = tempDir(t);
  const f = write(dir, 'v.ini', Buffer.concat([Buffer.from('[uwsgi]\na = 1\nb = '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
  const e = failure(() => load(dir, 'v.ini'));
  assert.equal(e.file, f);
  assert.equal(e.line, 3);
  assert.match(e.message, /not valid UTF-8/);
});

test('options that resolve to more than 1 MiB are refused at the line that passes it, whether read, looped or expanded', (t) => {
  const dir = tempDir(t);
  const line = 'x'.repeat(1000);
  write(dir, 'many.ini', `[uwsgi]\nfor-times = 2000\nv = ${line}%(_)\nendfor =\n`);
  let e = failure(() => load(dir, 'many.ini'));
  assert.equal(e.line, 3);
  assert.match(e.message, /resolved options pass the 1048576-byte limit/);
  write(dir, 'half.txt', 'y'.repeat(600 * 1024));
  write(dir, 'at.ini', '[uwsgi]\na = @(half.txt)\nb = @(half.txt)\n');
  e = failure(() => load(dir, 'at.ini'));
  assert.deepEqual([e.line, e.option], [3, 'b']);
  write(dir, 'ok.ini', '[uwsgi]\na = @(half.txt)\n');
  assert.equal(load(dir, 'ok.ini').options[1].value.length, 600 * 1024);
});

test('a file over 16 MB is refused', (t) => {
  const dir = tempDir(t);
  const f = write(dir, 'big.ini', '[uwsgi]\n');
  fs.truncateSync(f, 16 * 1024 * 1024 + 1);
  const e = failure(() => load(dir, 'big.ini'));
  assert.equal(e.file, f);
  assert.match(e.message, /over the 16777216-byte limit/);
});

test('invalid json and yaml are errors with their line', (t) => {
  const dir = tempDir(t);
  const j = write(dir, 'v.json', '{\n  "uwsgi": {\n    "a": "b",\n  }\n}\n');
  let e = failure(() => load(dir, 'v.json'));
  assert.equal(e.file, j);
  assert.equal(e.line, 4);
  assert.match(e.message, /invalid JSON/);
  write(dir, 'noobj.json', '{"other": {}}');
  assert.match(failure(() => load(dir, 'noobj.json')).message, /no object named "uwsgi"/);
  const y = write(dir, 'v.yml', 'uwsgi:\n  a: b\n  c: "unterminated\n');
  e = failure(() => load(dir, 'v.yml'));
  assert.equal(e.file, y);
  assert.ok(e.line >= 3, `yaml error line ${e.line}`);
  assert.match(e.message, /invalid YAML/);
});

test('xml: an entity bomb, external entities and any DTD are refused at the DOCTYPE line, reading nothing', async (t) => {
  const dir = tempDir(t);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  let connections = 0;
  const server = net.createServer((c) => {
    connections++;
    c.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const lol = ['<!ENTITY lol0 "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`)];
  const files: Record<string, string> = {
    'bomb.xml': `<?xml version="1.0"?>\n<!DOCTYPE uwsgi [\n${lol.join('\n')}\n]>\n<uwsgi><socket>&lol9;</socket></uwsgi>\n`,
    'fifo.xml': `<?xml version="1.0"?>\n<!DOCTYPE uwsgi [ <!ENTITY x SYSTEM "${fifo}"> ]>\n<uwsgi><socket>&x;</socket></uwsgi>\n`,
    'net.xml': `<?xml version="1.0"?>\n<!DOCTYPE uwsgi SYSTEM "http://127.0.0.1:${port}/uwsgi.dtd">\n<uwsgi><socket>:1</socket></uwsgi>\n`,
    'plain.xml': '<?xml version="1.0"?>\n<!DOCTYPE uwsgi>\n<uwsgi><socket>:1</socket></uwsgi>\n',
  };
  const heap = process.memoryUsage().heapUsed;
  const started = Date.now();
  for (const [name, text] of Object.entries(files)) {
    const f = write(dir, name, text);
    const e = failure(() => load(dir, name));
    assert.deepEqual([e.file, e.line], [f, 2], name);
    assert.match(e.message, /a DTD \(<!DOCTYPE \.\.\.>\) is not accepted/, name);
  }
  assert.ok(Date.now() - started < 5000, 'refused at once');
  assert.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024, 'no expansion in memory');
  await new Promise((r) => setImmediate(r));
  assert.equal(connections, 0, 'no network access for an external DTD');
});

test('xml: malformed files, undefined entities and what uWSGI crashes or exits on are errors at their line', (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, string, number, RegExp]> = [
    ['unclosed.xml', '<uwsgi>\n<socket>:1</socket>\n<master>\n</uwsgi>\n', 4, /invalid XML: unexpected close tag/],
    ['entity.xml', '<uwsgi>\n<socket>:1</socket>\n<env>A=&lol;</env>\n</uwsgi>\n', 3, /invalid XML: undefined entity/],
    ['noroot.xml', '<?xml version="1.0"?>\n<config>\n  <app>x</app>\n</config>\n', 2, /no <uwsgi> element under the root <config>/],
    ['element-first.xml', '<uwsgi>\n  <socket>:1</socket>\n  <env><b>x</b></env>\n</uwsgi>\n', 3, /<env> starts with an element/],
    ['latin1.xml', '<?xml version="1.0" encoding="ISO-8859-1"?>\n<uwsgi/>\n', 1, /encoding "ISO-8859-1"/],
    ['deep.xml', `<uwsgi>\n${'<a>'.repeat(100000)}${'</a>'.repeat(100000)}</uwsgi>\n`, 2, /nested deeper than 64/],
    [
      'attrs.xml',
      `<uwsgi>\n<a ${Array.from({ length: 300 }, (_, i) => `x${i}="1"`).join(' ')}>v</a></uwsgi>\n`,
      2,
      /more than 256 attributes/,
    ],
  ];
  for (const [name, text, line, re] of cases) {
    const f = write(dir, name, text);
    const e = failure(() => load(dir, name));
    assert.deepEqual([e.file, e.line], [f, line], `${name}: ${e.message}`);
    assert.match(e.message, re, name);
  }
  let e = failure(() => load(dir, 'noroot.xml:'));
  assert.match(e.message, /invalid xml id/);
  write(dir, 'inc.ini', '[uwsgi]\n\nxml = unclosed.xml\n');
  e = failure(() => load(dir, 'inc.ini'));
  assert.deepEqual([e.file, e.line], [path.join(dir, 'unclosed.xml'), 4]);
  // a root with no child at all is read as no options (uWSGI says nothing); here with a warning
  write(dir, 'empty.xml', '<config/>\n');
  assert.deepEqual(
    load(dir, 'empty.xml').warnings.map((w) => w.message),
    [`the root element of ${path.join(dir, 'empty.xml')} has no child: no options`],
  );
});

test('an unknown magic variable becomes empty with a warning at its line', (t) => {
  const dir = tempDir(t);
  const f = write(dir, 'v.ini', '[uwsgi]\na = 1\nb = 100%z%%done\n');
  const cfg = load(dir, 'v.ini');
  assert.equal(cfg.options.find((o) => o.key === 'b')?.value, '100%done');
  assert.deepEqual(cfg.warnings, [{ file: f, line: 3, message: 'unknown magic variable %z (uWSGI replaces it with "")' }]);
});

test('what uWSGI would exit or loop on is an error at the option', (t) => {
  const dir = tempDir(t);
  write(dir, 'at.ini', '[uwsgi]\nx = @(nope.txt)\n');
  let e = failure(() => load(dir, 'at.ini'));
  assert.equal(e.line, 2);
  assert.equal(e.option, 'x');
  assert.match(e.message, /@\(nope\.txt\): reading .*nope\.txt: ENOENT/);
  write(dir, 'loop.ini', '[uwsgi]\na = x%(a)\n');
  e = failure(() => load(dir, 'loop.ini'));
  assert.equal(e.line, 2);
  assert.match(e.message, /does not end/);
  write(dir, 'exit.ini', '[uwsgi]\nexit = 17\n');
  assert.match(failure(() => load(dir, 'exit.ini')).message, /exit \(status 17\)/);
  write(dir, 'set.ini', '[uwsgi]\nset = novalue\n');
  assert.match(failure(() => load(dir, 'set.ini')).message, /expected name=value/);
});

test('include takes no :section, as in uWSGI (ini = file:section does)', (t) => {
  const dir = tempDir(t);
  write(dir, 'b.ini', '[sec]\nx = 1\n');
  write(dir, 'a.ini', '[uwsgi]\ninclude = b.ini:sec\n');
  const e = failure(() => load(dir, 'a.ini'));
  assert.equal(e.line, 2);
  assert.match(e.message, /unable to load configuration from b\.ini:sec \(include takes no :section/);
  write(dir, 'c.ini', '[uwsgi]\nini = b.ini:sec\n');
  assert.equal(load(dir, 'c.ini').options.at(-1)?.value, '1');
});
