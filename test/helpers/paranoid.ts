// The capability-limited ("paranoid") emperor as the README starts it: its own config says uid and gid 10000 and
// cap = setgid,setuid; the rest of its options come after, on the command line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { EmperorProcess } from './emperor-process';

export const PARANOID_UID = 10000;

/** Starts it with its config in dir (emperor.ini), killed with everything it started after the test. */
export function paranoidEmperor(t: TestContext, dir: string, args: string[]): EmperorProcess {
  const ini = path.join(dir, 'emperor.ini');
  fs.writeFileSync(ini, `[uwsgi]\nuid = ${PARANOID_UID}\ngid = ${PARANOID_UID}\ncap = setgid,setuid\n`);
  const emperor = new EmperorProcess(['--ini', ini, ...args]);
  t.after(() => emperor.kill());
  return emperor;
}

/** A directory the paranoid emperor may write in (its control socket, its log files). */
export function paranoidDir(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir);
  fs.chownSync(dir, PARANOID_UID, PARANOID_UID);
  return dir;
}

/** Every log line that names EPERM anywhere: a signal or a call the kernel refused the emperor. */
export function epermLines(emperor: EmperorProcess): string[] {
  return emperor.logs.map((l) => JSON.stringify(l)).filter((l) => l.includes('EPERM'));
}
