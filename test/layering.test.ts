// The import direction of DESIGN.md, read from the sources: the config language, the monitors and the stats reach the
// kernel only through what they are given (never src/emperor, src/privileges.ts or src/native.ts), shared tables are
// leaves, and only src/native.ts loads the addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** Repo-relative paths (with '/') of the .ts files under dir. */
function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return tsFiles(rel);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  }).sort();
}

// Statements only: an import or export at the start of a line up to its `from '...'` (a multi-line import list
// included), a bare `import '...'`, and require()/import() calls.
const SPECIFIERS = [
  /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  /^\s*import\s*['"]([^'"]+)['"]/gm,
  /\b(?:require|import)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
];

function specifiers(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return SPECIFIERS.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]));
}

/** A relative specifier as the repo-relative .ts file it names. */
function resolveSpecifier(from: string, spec: string): string {
  const base = path.join(path.dirname(path.join(ROOT, from)), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate)) return path.relative(ROOT, candidate).split(path.sep).join('/');
  }
  throw new Error(`${from}: cannot resolve '${spec}' to a .ts file`);
}

const SRC = tsFiles('src');
/** Every src module's project imports (repo-relative files); packages and node: builtins are left out. */
const GRAPH = new Map(SRC.map((f) => [f, specifiers(f).filter((s) => s.startsWith('.')).map((s) => resolveSpecifier(f, s))]));

const isForbidden = (f: string): boolean => f.startsWith('src/emperor/') || f === 'src/privileges.ts' || f === 'src/native.ts';

/**
 * The shortest import chain from each of `roots` to each forbidden module it reaches. The search does not go on
 * through the roots themselves (each is reported as its own start) nor past a forbidden module (the first one
 * reached is the fault).
 */
function forbiddenChains(roots: string[]): string[] {
  const chains: string[] = [];
  for (const root of roots) {
    const parent = new Map<string, string>([[root, '']]);
    const queue = [root];
    while (queue.length) {
      const f = queue.shift()!;
      for (const dep of GRAPH.get(f) ?? []) {
        if (parent.has(dep)) continue;
        parent.set(dep, f);
        if (isForbidden(dep)) {
          const chain = [dep];
          for (let p = f; p !== ''; p = parent.get(p)!) chain.unshift(p);
          chains.push(chain.join(' -> '));
        } else if (!roots.includes(dep)) {
          queue.push(dep);
        }
      }
    }
  }
  return chains;
}

test('the import parser sees what the modules import', () => {
  assert.ok(GRAPH.get('src/emperor/launch.ts')?.includes('src/native.ts'));
  assert.ok(GRAPH.get('src/cli.ts')?.includes('src/config/index.ts'));
  assert.ok(GRAPH.get('src/config/index.ts')?.includes('src/config/types.ts'), 'export * from is an import');
  assert.ok(SRC.includes('src/tables/protocol.ts'));
});

for (const area of ['src/config', 'src/monitors', 'src/stats']) {
  test(`${area} never imports src/emperor, src/privileges.ts or src/native.ts, directly or through another module`, () => {
    const chains = forbiddenChains(SRC.filter((f) => f.startsWith(`${area}/`)));
    assert.deepEqual(chains, [], `${area} must not depend on the emperor, the privileges or the addon (DESIGN.md, Import direction); ` +
      `it reaches them through:\n  ${chains.join('\n  ')}`);
  });
}

test('the app-side helper (package export emperor/vassal) loads nothing of the emperor', () => {
  const chains = forbiddenChains(['src/vassal/helper.ts']);
  assert.deepEqual(chains, [], `an app that loads emperor/vassal would load:\n  ${chains.join('\n  ')}`);
});

test('src/tables and src/host-error.ts import nothing but node: builtins', () => {
  const leaves = SRC.filter((f) => f.startsWith('src/tables/') || f === 'src/host-error.ts');
  assert.ok(leaves.length >= 5, leaves.join(' '));
  const offending = leaves.flatMap((f) => specifiers(f).filter((s) => !s.startsWith('node:')).map((s) => `${f} imports '${s}'`));
  assert.deepEqual(offending, [], `leaf modules must stay leaves:\n  ${offending.join('\n  ')}`);
});

test('only src/native.ts loads the addon', () => {
  const self = path.relative(ROOT, path.join(__dirname, 'layering.test.ts')).replace(/^dist\//, '');
  const loaders = [...SRC, ...tsFiles('test'), ...tsFiles('bench')]
    .filter((f) => f !== self)
    .filter((f) => /['"`][^'"`\n]*\.node['"`]|\bprocess\.dlopen\b/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(loaders, ['src/native.ts']);
});
