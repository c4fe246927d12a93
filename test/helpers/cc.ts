// Test programs written in C (test/helpers/*.c), compiled once into build/test and again when their source changes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The binary of test/helpers/NAME.c, built with the extra cc flags (-static for a program run inside a jail). */
export function testBinary(name: string, flags: string[] = []): string {
  const source = path.resolve(__dirname, `../../../test/helpers/${name}.c`);
  const binary = path.resolve(__dirname, `../../../build/test/${name}`);
  const stale = !fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) {
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    // built beside and renamed: two test files building at once never run a half-written binary
    const tmp = `${binary}.${process.pid}`;
    execFileSync('cc', ['-O2', '-Wall', ...flags, '-o', tmp, source], { stdio: 'inherit', timeout: 60000 });
    fs.renameSync(tmp, binary);
  }
  return binary;
}
