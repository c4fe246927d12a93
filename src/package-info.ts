// Where the package is installed and what version it is: dist/src/*.js and src/*.ts sit at different depths,
// so the root is found by walking up to package.json.
import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`emperor: no package.json above ${__dirname}`);
  }
}

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** A file the native build produced (build/Release/NAME): the addon, emperor-setpriv. */
export function builtFile(name: string): string {
  return path.join(packageRoot(), 'build', 'Release', name);
}

/**
 * The vassal init or the agent: build/Release/NAME, or with EMPEROR_SANITIZED=1 in the emperor's environment the
 * ASan+UBSan build of it in build/Sanitize (scripts/run-sanitized.js makes it, for CI: a test build, never one to run
 * tenants' vassals with).
 */
export function programFile(name: 'emperor-init' | 'emperor-agent'): string {
  return path.join(packageRoot(), 'build', process.env.EMPEROR_SANITIZED === '1' ? 'Sanitize' : 'Release', name);
}
