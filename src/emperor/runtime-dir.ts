// The emperor's private runtime directory: where store monitors (etcd://, pg://) write their vassals' configs.
// /run/emperor.<pid> as root (only root can create there, so a leftover of a dead emperor with the same pid is ours
// to remove); elsewhere a fresh directory under the temp dir. 0711: a tyrant vassal opens its own file by name, and
// nobody lists the others. Removed at Ragnarok.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function makeRuntimeDir(): string {
  let dir: string;
  if (process.getuid?.() === 0 && fs.existsSync('/run')) {
    dir = `/run/emperor.${process.pid}`;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { mode: 0o711 });
  } else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `emperor.${process.pid}.`));
  }
  fs.chmodSync(dir, 0o711);
  return dir;
}

export function removeRuntimeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
