// The bytes a tyrant's uWSGI vassal runs (README "Tyrant mode"). uWSGI opens its config by name at every (re)exec and
// computes %p %d %n %e %o from that name, so the name stays; what is behind it is fixed instead: the verified bytes
// are written to a snapshot file, which the vassal's own mount namespace has bind-mounted read-only over the name
// (native/addon/config_bind.cc). One snapshot per instance, in a root-owned 0700 directory under the emperor's
// runtime directory: each file is its owner's and 0400 (uWSGI reads it as the owner), reachable only through the
// vassal's read-only mount. A reload rewrites it in place (the same inode, which the mount shows); the instance's
// exit removes it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileOwner } from '../file-identity';

export interface Snapshot {
  path: string;
  dev: number;
  ino: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_TRUNC } = fs.constants;

function writeAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at, bytes.length - at, at);
}

export class ConfigSnapshots {
  private seq = 0;

  private constructor(private readonly dir: string) {}

  /** The snapshots' directory in the runtime directory (made by root, 0711): root's, 0700. */
  static in(runtimeDir: string): ConfigSnapshots {
    const dir = path.join(runtimeDir, 'snapshots');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    return new ConfigSnapshots(dir);
  }

  /** A new snapshot of `bytes` for an instance of `vassal` (its monitor and name), owned by `owner`. */
  create(vassal: string, owner: FileOwner, bytes: Buffer): Snapshot {
    const file = path.join(this.dir, `${createHash('sha256').update(vassal).digest('hex').slice(0, 24)}.${++this.seq}`);
    const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o400);
    try {
      fs.fchownSync(fd, owner.uid, owner.gid);
      writeAll(fd, bytes);
      const st = fs.fstatSync(fd);
      return { path: file, dev: st.dev, ino: st.ino };
    } catch (e) {
      fs.rmSync(file, { force: true });
      throw e;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The snapshot's bytes replaced in place: the same inode, which the vassal's mount shows. */
  rewrite(s: Snapshot, bytes: Buffer): void {
    const fd = fs.openSync(s.path, O_WRONLY | O_TRUNC | O_NOFOLLOW);
    try {
      writeAll(fd, bytes);
    } finally {
      fs.closeSync(fd);
    }
  }

  remove(s: Snapshot): void {
    fs.rmSync(s.path, { force: true });
  }
}
