// Users and groups from /etc/passwd and /etc/group, as they are at each call (the tyrant's tenants come and go while
// the emperor runs). Files only, no NSS modules: what a uid/gid option or an owner check can name is what those files say.
import * as fs from 'node:fs';

type Db = '/etc/passwd' | '/etc/group';

const parsed = new Map<Db, { stamp: string; rows: string[][] }>();

/**
 * The entries of a file as their colon-separated fields; malformed lines (no numeric id) are skipped. Parsed again
 * only when the file changed (its inode, size or mtime): a stat per lookup, not a read.
 */
function entries(db: Db): string[][] {
  let st: fs.Stats;
  try {
    st = fs.statSync(db);
  } catch {
    return []; // no passwd/group files: numeric ids only
  }
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = parsed.get(db);
  if (hit?.stamp === stamp) return hit.rows;
  let text: string;
  try {
    text = fs.readFileSync(db, 'utf8');
  } catch {
    return [];
  }
  const rows = text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]));
  parsed.set(db, { stamp, rows });
  return rows;
}

/** A numeric value is taken as it is, known or not (as uWSGI takes it); a name must be in the file. */
function idOf(db: Db, value: string): number | undefined {
  if (/^\d+$/.test(value)) return Number(value);
  const f = entries(db).find((e) => e[0] === value);
  return f ? Number(f[2]) : undefined;
}

/** A uid's passwd entry (name, primary gid, home directory, login shell; the last two '' when the line has none). */
export function userOf(uid: number): { name: string; gid: number; home: string; shell: string } | undefined {
  const f = entries('/etc/passwd').find((e) => Number(e[2]) === uid);
  return f ? { name: f[0], gid: Number(f[3]), home: f[5] ?? '', shell: f[6] ?? '' } : undefined;
}

/** A gid's group name, if it has one. */
export function groupNameOf(gid: number): string | undefined {
  return entries('/etc/group').find((f) => Number(f[2]) === gid)?.[0];
}

/** A uid option's value (a number or a user name) as a uid; undefined for an unknown name. */
export function uidOf(value: string): number | undefined {
  return idOf('/etc/passwd', value);
}

/** A gid option's value (a number or a group name) as a gid; undefined for an unknown name. */
export function gidOf(value: string): number | undefined {
  return idOf('/etc/group', value);
}

/** A user's groups as initgroups would give them: its primary gid, then every group that lists its name. */
export function supplementaryGroups(uid: number, gid: number): number[] {
  const groups = new Set<number>([gid]);
  const user = userOf(uid)?.name;
  if (user) {
    for (const f of entries('/etc/group')) if (f[3].split(',').includes(user)) groups.add(Number(f[2]));
  }
  return [...groups];
}
