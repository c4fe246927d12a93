// Tyrant mode (reference §5): every vassal runs as its config file's owner, and a root-owned file is refused.
import * as fs from 'node:fs';
import type { VassalSource } from '../monitors/types';

/** The credentials a vassal is spawned with (nothing outside tyrant mode: it inherits the emperor's). */
export interface Credentials {
  uid?: number;
  gid?: number;
  groups?: number[];
}

export type CredentialsOrRefusal = Credentials | { refused: string };

export function tyrantCredentials(src: VassalSource): CredentialsOrRefusal {
  if (src.uid === 0 || src.gid === 0) {
    return { refused: `[emperor-tyrant] invalid permissions for vassal ${src.name}: ${src.path} is owned by uid ${src.uid} gid ${src.gid}, and a tyrant never runs a vassal as root` };
  }
  return { uid: src.uid, gid: src.gid, groups: supplementaryGroups(src.uid, src.gid) };
}

/** The owner's supplementary groups, as initgroups would give them (read from /etc/group, no NSS modules). */
function supplementaryGroups(uid: number, gid: number): number[] {
  const groups = new Set<number>([gid]);
  try {
    const user = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => Number(f[2]) === uid)?.[0];
    if (user) {
      for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 4 && f[3].split(',').includes(user)) groups.add(Number(f[2]));
      }
    }
  } catch {
    /* no passwd/group files: primary group only */
  }
  return [...groups];
}
