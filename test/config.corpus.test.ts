// The 66 real-world configs that uWSGI 2.0.21 resolved (test/fixtures/corpus): each must resolve here to
// exactly the option list uWSGI printed, laid out and run with the same environment as the capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatShowConfig, type ConfigFormat } from '../src/config';
import { load } from './helpers/config-host';
import { CONFIG_FILE_TYPES } from '../src/tables/formats';
import { NOBODY, ORACLE_ENV, showConfigLines } from './helpers/uwsgi-oracle';

const corpusDir = path.resolve(__dirname, '../../test/fixtures/corpus');

/** The capture's %I: the inode of the file in the capture machine's layout. */
const CAPTURED_INODE: Record<string, string> = { 'unbit__uwsgi.it__shortcuts.ini': '1458389' };

interface Entry {
  saved: string;
  repoPath: string;
  verdict: string;
}

function entries(): Entry[] {
  const rows = fs.readFileSync(path.join(corpusDir, 'SOURCES.tsv'), 'utf8').trim().split('\n').slice(1);
  return rows.map((r) => r.split('\t')).map((c) => ({ saved: c[0], repoPath: c[2], verdict: c[5] }));
}

function expectedFor(saved: string, root: string): { format: ConfigFormat; lines: string[] } {
  const out = fs.readFileSync(path.join(corpusDir, 'resolved', `${saved}.out`), 'utf8');
  const cmd = out.split('\n').find((l) => l.startsWith('# uwsgi '));
  assert.ok(cmd, `${saved}: no command line in the capture header`);
  const args = cmd.slice('# uwsgi '.length).split(' ');
  const at = args.findIndex((a) => CONFIG_FILE_TYPES.some((t) => t.flag === a));
  assert.ok(at >= 0, `${saved}: no config file flag in the capture header`);
  const format = CONFIG_FILE_TYPES.find((t) => t.flag === args[at])!.format;
  const trailing = args.slice(at + 2).filter((a) => a.startsWith('--')).length;
  const leading = args.slice(0, at).filter((a) => a.startsWith('--')).length;
  const lines = showConfigLines(out);
  assert.ok(lines, `${saved}: no show-config block in the capture`);
  return {
    format,
    lines: lines.slice(leading, lines.length - trailing).map((l) => l.replace(/\/var\/lib\/ucheck\/\d+/g, root)),
  };
}

test('every corpus config uWSGI resolved resolves here to the same options', () => {
  const resolved = entries().filter((e) => e.verdict.startsWith('yes'));
  assert.equal(resolved.length, 66);
  const failures: string[] = [];
  for (const e of resolved) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-config-corpus-'));
    // read as nobody, the vassal uWSGI resolved them as: the kernel checks every directory on the way
    fs.chmodSync(root, 0o755);
    try {
      const target = path.join(root, e.repoPath);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(path.join(corpusDir, e.saved), target);
      const { format, lines: expected } = expectedFor(e.saved, root);
      const cfg = load(path.basename(target), { cwd: path.dirname(target), format, env: { ...ORACLE_ENV }, as: NOBODY });
      let actual = formatShowConfig(cfg).split('\n').slice(2, -2);
      const inode = CAPTURED_INODE[e.saved];
      if (inode) actual = actual.map((l) => l.split(String(fs.statSync(target).ino)).join(inode));
      try {
        assert.deepEqual(actual, expected);
      } catch (err) {
        failures.push(`${e.saved}:\n${(err as Error).message}`);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  assert.deepEqual(failures, [], `${failures.length} corpus files differ from uWSGI:\n${failures.join('\n\n')}`);
});
