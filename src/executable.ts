// execvp's PATH search, done in the parent: a spawned child only execs absolute paths.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeError } from './native-error';

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** execvp's PATH search, done in the parent (the child only execs absolute paths). */
export function resolveExecutable(name: string, PATH: string = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string {
  if (name === '') throw nativeError('ENOENT', 'execve', { path: name, step: 'execve' });
  if (name.includes('/')) {
    const file = path.resolve(name);
    if (!fs.existsSync(file)) throw nativeError('ENOENT', 'execve', { path: file, step: 'execve' });
    return file;
  }
  for (const dir of PATH.split(':')) {
    const file = path.resolve(dir === '' ? '.' : dir, name);
    if (isExecutableFile(file)) return file;
  }
  throw nativeError('ENOENT', 'execve', { path: name, step: 'execve' });
}
