// The import direction of docs/ARCHITECTURE.md ("Import direction"), read from the sources: no cycle between folders;
// the config language, the monitors, the operators' clients and the jail compiler reach the kernel only through what
// they are given (never src/emperor, src/privileges.ts or src/native.ts); shared tables are leaves; and only
// src/native.ts loads the addon.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** Repo-relative paths (with '/') of the .ts files under dir. */
function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((e) => {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) return tsFiles(rel);
      return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
    })
    .sort();
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
const GRAPH = new Map(
  SRC.map((f) => [
    f,
    specifiers(f)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolveSpecifier(f, s)),
  ]),
);

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
  assert.ok(SRC.includes('src/tables/uwsgi-protocol.ts'));
});

/** Leaf modules besides src/tables: they import nothing of the project. */
const LEAF_FILES = ['src/host-fs.ts', 'src/native-error.ts', 'src/check.ts', 'src/frames.ts', 'src/printable.ts', 'src/byte-budget.ts'];

/**
 * Modules that compute, parse or describe and never touch the kernel themselves: the config language, the monitors'
 * logic (they get a MonitorFs), the wire formats, the jail plan compiler, the operators' clients and tables.
 */
const PURE = SRC.filter(
  (f) =>
    ['src/config/', 'src/monitors/', 'src/tables/'].some((d) => f.startsWith(d)) ||
    [
      'src/jail/compile.ts',
      'src/jail/hooks.ts',
      'src/jail/plan.ts',
      'src/jail/init-wire.ts',
      'src/jail/init-link.ts',
      'src/agent/agent-wire.ts',
      'src/agent/calls.ts',
      'src/reader/reader-wire.ts',
      'src/reader/facts.ts',
      'src/ops/address.ts',
      'src/ops/control-wire.ts',
      'src/ops/control-client.ts',
      'src/ops/stats-client.ts',
      'src/ops/stats-table.ts',
      'src/file-identity.ts',
      'src/reader/vassal-file.ts',
      'src/emperor/upgrade-state.ts',
      ...LEAF_FILES,
    ].includes(f),
);

test('pure modules never import src/emperor, src/privileges.ts or src/native.ts, directly or through another module', () => {
  assert.ok(PURE.length > 40, `${PURE.length} pure modules`);
  const chains = forbiddenChains(PURE);
  assert.deepEqual(
    chains,
    [],
    `pure modules must not depend on the emperor, the privileges or the addon (docs/ARCHITECTURE.md, Import direction); ` +
      `they reach them through:\n  ${chains.join('\n  ')}`,
  );
});

/** 'src/emperor' for src/emperor/vassal.ts; a module at the top of src is its own node. */
function folderOf(f: string): string {
  const parts = f.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : f;
}

/** Each folder-level cycle as the file imports that close it (Tarjan's strongly connected components). */
function folderCycles(graph: Map<string, string[]>): string[][] {
  const edges = new Map<string, Map<string, string>>();
  for (const [f, deps] of graph) {
    for (const d of deps) {
      const [a, b] = [folderOf(f), folderOf(d)];
      if (a === b) continue;
      if (!edges.has(a)) edges.set(a, new Map());
      if (!edges.get(a)!.has(b)) edges.get(a)!.set(b, `${f} -> ${d}`);
    }
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1) cycles.push(scc.flatMap((a) => scc.flatMap((b) => edges.get(a)?.get(b) ?? [])));
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

test('no cycle between folders of src', () => {
  const cycles = folderCycles(GRAPH);
  assert.deepEqual(
    cycles,
    [],
    `folders import each other (move the shared piece below both):\n${cycles.map((c) => `  ${c.join('\n  ')}`).join('\n\n')}`,
  );
});

test('the cycle finder finds a cycle between two folders', () => {
  const g = new Map([
    ['src/a/x.ts', ['src/b/y.ts']],
    ['src/b/y.ts', ['src/c.ts']],
    ['src/c.ts', ['src/a/z.ts']],
    ['src/a/z.ts', []],
  ]);
  assert.equal(folderCycles(g).length, 1);
  assert.equal(
    folderCycles(
      new Map([
        ['src/a/x.ts', ['src/b/y.ts']],
        ['src/b/y.ts', []],
      ]),
    ).length,
    0,
  );
});

test('the app-side helper (package export emperor/vassal) loads nothing of the emperor', () => {
  const chains = forbiddenChains(['src/sdk/vassal.ts']);
  assert.deepEqual(chains, [], `an app that loads emperor/vassal would load:\n  ${chains.join('\n  ')}`);
});

test('src/tables and the leaf modules (host-fs, native-error, check, frames, printable, byte-budget) import nothing but node: builtins', () => {
  const leaves = SRC.filter((f) => f.startsWith('src/tables/') || LEAF_FILES.includes(f));
  assert.ok(leaves.length >= 5, leaves.join(' '));
  const offending = leaves.flatMap((f) =>
    specifiers(f)
      .filter((s) => !s.startsWith('node:'))
      .map((s) => `${f} imports '${s}'`),
  );
  assert.deepEqual(offending, [], `leaf modules must stay leaves:\n  ${offending.join('\n  ')}`);
});

test('only src/native.ts loads the addon', () => {
  const self = path.relative(ROOT, path.join(__dirname, 'layering.test.ts')).replace(/^dist\//, '');
  const loaders = [...SRC, ...tsFiles('test'), ...tsFiles('bench')]
    .filter((f) => f !== self)
    .filter((f) => /['"`][^'"`\n]*\.node['"`]|\bprocess\.dlopen\b/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(loaders, ['src/native.ts']);
});
