// The fixture vassals (every example of the uWSGI Emperor doc and its FUSE tutorial, plus one file per feature of the
// language) resolved here and by real uWSGI 2.0.21, compared option by option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatShowConfig, vassalEnvironment, type ConfigFormat } from '../src/config';
import { formatOfName } from '../src/tables/formats';
import { load } from './helpers/config-host';
import { NOBODY, ORACLE_ENV, assertUwsgiInstalled, makeOracleDir, mapLimit, runUwsgiShowConfig } from './helpers/uwsgi-oracle';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures/config');

interface Case {
  file: string;
  section?: string;
  format?: ConfigFormat;
  set?: string[];
  includes?: string[];
  includesBefore?: string[];
  inherits?: string[];
  inheritsBefore?: string[];
  env?: Record<string, string>;
}

const CASES: Case[] = [
  // Emperor.rst
  { file: 'emperor-doc/app1.ini' },
  { file: 'emperor-doc/app2.ini' },
  { file: 'emperor-doc/emperor-vassal-set.ini' },
  { file: 'emperor-doc/socket-from-env.ini', env: vassalEnvironment({ UWSGI_VASSAL_SOCKET: '/tmp/%n.sock' }) },
  { file: 'emperor-doc/app1.ini', set: ['processes=8', 'enable-metrics=1'] },
  { file: 'emperor-doc/myapp.ini', includes: ['vassals-default.ini'] },
  { file: 'emperor-doc/tyrant.ini' },
  { file: 'emperor-doc/clone-all.ini' },
  { file: 'emperor-doc/clone-some.ini' },
  { file: 'emperor-doc/foobar.ini' },
  { file: 'emperor-doc/binary-patch.ini' },
  { file: 'emperor-doc/binary-patch-arg.ini' },
  { file: 'emperor-doc/nginx.ini' },
  // tutorials/ReliableFuse.rst
  { file: 'fuse-tutorial/emperor.ini' },
  { file: 'fuse-tutorial/app001.ini' },
  { file: 'fuse-tutorial/app001-check.ini' },
  { file: 'fuse-tutorial/unionfs.ini' },
  { file: 'fuse-tutorial/atexit.ini' },
  // the language, feature by feature
  { file: 'features/magic.ini' },
  { file: 'features/a/b/c/d/deep.ini' },
  { file: 'features/sections.ini' },
  { file: 'features/sections.ini', section: 'app2' },
  { file: 'features/section-reuse.ini' },
  { file: 'features/include-parent.ini' },
  { file: 'features/placeholders.ini' },
  { file: 'features/env.ini' },
  { file: 'features/logic-for.ini' },
  { file: 'features/logic-paths.ini' },
  { file: 'features/logic-opt.ini' },
  { file: 'features/logic-include.ini' },
  { file: 'features/reload.ini' },
  { file: 'features/at-file.ini' },
  { file: 'features/set.ini' },
  { file: 'features/inherit.ini' },
  { file: 'features/whitespace.ini' },
  { file: 'features/repeated.ini' },
  { file: 'features/vassal.json' },
  { file: 'features/multi.json', section: 'app2' },
  { file: 'features/vassal.yml' },
  { file: 'features/multi.yml', section: 'other' },
  { file: 'features/mixed.ini' },
  { file: 'features/hostname.ini' },
  { file: 'features/env-options.ini', env: { UWSGI_PROCESSES: '4', UWSGI_HARAKIRI_VERBOSE: '1', UWSGI_RELOADS: '3' } },
  { file: 'features/vassal-set-target.ini', set: ['processes=8', 'name=%n'], includesBefore: ['part2.ini'] },
  { file: 'features/percent-paren.ini' },
  { file: 'features/missing-section.ini', section: 'nosuch' },
  { file: 'features/hooks.ini' },
  { file: 'features/routes.ini' },
  { file: 'features/emperor-own.ini' },
  { file: 'features/case.ini' },
  { file: 'features/tricky.ini', env: { UWSGI_Foo_Bar: 'mixed' } },
  { file: 'features/tricky.yml' },
  { file: 'features/tricky.json' },
  { file: 'features/vassal.xml' },
  { file: 'features/multi.xml' },
  { file: 'features/multi.xml', section: 'app2' },
  { file: 'features/multi.xml', section: 'nosuch' },
  { file: 'features/xml-include.ini' },
  {
    file: 'features/inherit.ini',
    set: ['processes=3'],
    includes: ['part2.ini'],
    includesBefore: ['part.yml'],
    inherits: ['inherit-base.ini'],
    inheritsBefore: ['multi.yml'],
  },
];

function oracleArgs(c: Case, spec: string, format: ConfigFormat): string[] {
  return [
    ...(c.inheritsBefore ?? []).flatMap((i) => ['--inherit', i]),
    ...(c.includesBefore ?? []).flatMap((i) => ['--include', i]),
    ...(c.set ?? []).flatMap((s) => ['--set', s]),
    `--${format}`,
    spec,
    ...(c.inherits ?? []).flatMap((i) => ['--inherit', i]),
    ...(c.includes ?? []).flatMap((i) => ['--include', i]),
  ];
}

test('the fixture vassals resolve here exactly as real uWSGI resolves them', async (t) => {
  assertUwsgiInstalled();
  const root = makeOracleDir('emperor-config-oracle');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(FIXTURES, root, { recursive: true, verbatimSymlinks: true });
  const vassalFiles = fs
    .readdirSync(FIXTURES, { recursive: true })
    .map(String)
    .filter((f) => /\.(ini|yml|json|xml|skel)$/.test(f));
  assert.ok(vassalFiles.length >= 40, `only ${vassalFiles.length} fixture files`);

  const results = await mapLimit(CASES, 8, async (c) => {
    const dir = path.join(root, path.dirname(c.file));
    const spec = path.basename(c.file) + (c.section !== undefined ? `:${c.section}` : '');
    const format = c.format ?? formatOfName(c.file) ?? 'ini';
    const run = await runUwsgiShowConfig(dir, oracleArgs(c, spec, format), c.env);
    const cfg = load(spec, {
      cwd: dir,
      format,
      set: c.set,
      includes: c.includes,
      includesBefore: c.includesBefore,
      inherits: c.inherits,
      inheritsBefore: c.inheritsBefore,
      env: { ...ORACLE_ENV, ...c.env },
      as: NOBODY,
    });
    // uWSGI's log lines cannot show a value's own newlines: compare the printed lines, blank ones dropped on both sides
    return {
      c: `${spec} (${c.file})`,
      run,
      actual: formatShowConfig(cfg)
        .split('\n')
        .slice(2, -2)
        .filter((l) => l !== ''),
    };
  });
  const failures: string[] = [];
  for (const { c, run, actual } of results) {
    if (!run.lines || !run.output.includes('unable to set "uwsgi_resolve_probe_exit" clock')) {
      failures.push(`${c}: uWSGI did not reach its show-config (exit ${run.status}):\n${run.output}`);
      continue;
    }
    try {
      assert.deepEqual(actual, run.lines);
    } catch (e) {
      failures.push(`${c}:\n${(e as Error).message}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${CASES.length} fixtures differ from uWSGI:\n${failures.join('\n\n')}`);
});
