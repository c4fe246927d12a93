// A small glob(3) for `for-glob` (GLOB_MARK | GLOB_NOCHECK): *, ? and [...] per path segment, sorted results.
import * as fs from 'node:fs';
import * as path from 'node:path';

function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

const magic = (seg: string): boolean => /[*?[]/.test(seg);

export function globSync(pattern: string, cwd: string): string[] {
  const absolute = pattern.startsWith('/');
  const segs = pattern.split('/').filter((s) => s !== '');
  let found: string[] = [absolute ? '/' : ''];
  for (const seg of segs) {
    const next: string[] = [];
    for (const base of found) {
      const dir = path.resolve(cwd, base || '.');
      if (!magic(seg)) {
        const p = base === '' ? seg : base.endsWith('/') ? base + seg : `${base}/${seg}`;
        if (fs.existsSync(path.resolve(cwd, p))) next.push(p);
        continue;
      }
      let names: string[];
      try { names = fs.readdirSync(dir); } catch { continue; }
      const re = segmentRegex(seg);
      for (const n of names.sort()) {
        if (n.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(n)) next.push(base === '' ? n : base.endsWith('/') ? base + n : `${base}/${n}`);
      }
    }
    found = next;
    if (found.length > 100000) break;
  }
  if (found.length === 0 || (found.length === 1 && found[0] === (absolute ? '/' : '') && segs.length > 0)) return [pattern];
  return found.map((p) => {
    try { return fs.statSync(path.resolve(cwd, p)).isDirectory() && !p.endsWith('/') ? p + '/' : p; } catch { return p; }
  });
}
