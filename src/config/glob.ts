// A small glob(3) for `for-glob` (GLOB_MARK | GLOB_NOCHECK): *, ? and [...] per path segment, sorted results.
// Directories are listed and entries looked at through the host, as the vassal.
import * as path from 'node:path';
import type { ConfigHost } from './host';

function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

const magic = (seg: string): boolean => /[*?[]/.test(seg);

/** Stops a pattern like /a/*\/*\/* from listing a whole tree. */
export const MAX_GLOB_MATCHES = 100_000;

export function globSync(pattern: string, cwd: string, host: ConfigHost): string[] {
  const absolute = pattern.startsWith('/');
  const segs = pattern.split('/').filter((s) => s !== '');
  let found: string[] = [absolute ? '/' : ''];
  for (const seg of segs) {
    const next: string[] = [];
    for (const base of found) {
      if (!magic(seg)) {
        const p = base === '' ? seg : base.endsWith('/') ? base + seg : `${base}/${seg}`;
        if (host.stat(path.resolve(cwd, p), true)) next.push(p);
        continue;
      }
      let names: string[];
      try {
        names = host.readdir(path.resolve(cwd, base || '.'));
      } catch (e) {
        if ((e as { code?: string }).code === 'ETIMEDOUT') throw e;
        continue;
      }
      const re = segmentRegex(seg);
      for (const n of names.sort()) {
        if (n.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(n)) next.push(base === '' ? n : base.endsWith('/') ? base + n : `${base}/${n}`);
      }
    }
    found = next;
    if (found.length > MAX_GLOB_MATCHES) break;
  }
  if (found.length === 0 || (found.length === 1 && found[0] === (absolute ? '/' : '') && segs.length > 0)) return [pattern];
  return found.map((p) => (!p.endsWith('/') && host.stat(path.resolve(cwd, p), true)?.type === 'dir' ? p + '/' : p));
}
