// Reading the C++ side of a fact written in both languages, for the mirror tests: the source text of a file under
// native/, the body of one brace-delimited table in it, and the value of a C++ integer expression.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/package-info';

/** The text of native/REL. */
export function nativeSource(rel: string): string {
  return fs.readFileSync(path.join(packageRoot(), 'native', rel), 'utf8');
}

/** What lies between the '{' that follows `opener` and its matching '}'; throws when opener is not there. */
export function braceBlock(source: string, opener: string): string {
  const at = source.indexOf(opener);
  if (at < 0) throw new Error(`no '${opener}' in the source`);
  const open = source.indexOf('{', at + opener.length);
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) return source.slice(open + 1, i);
  }
  throw new Error(`'${opener}' has no closing brace`);
}

/** A C++ integer constant as written in these tables: 124, 0x10, 16u << 20, 64 * 1024. */
export function cxxInteger(expr: string): number {
  const m = /^\s*(-?(?:0x[0-9a-f]+|\d+))u?\s*(?:(<<|\*)\s*(\d+)u?)?\s*$/i.exec(expr);
  if (!m) throw new Error(`not an integer constant this test reads: '${expr}'`);
  const base = Number(m[1]);
  if (m[2] === '<<') return base * 2 ** Number(m[3]);
  if (m[2] === '*') return base * Number(m[3]);
  return base;
}

/** `constexpr TYPE PREFIXName = VALUE;` lines of a source, as { Name: value }. */
export function cxxConstants(source: string, prefix: string): Record<string, number> {
  const re = new RegExp(`constexpr\\s+\\w+\\s+${prefix}(\\w+)\\s*=\\s*([^;]+);`, 'g');
  return Object.fromEntries([...source.matchAll(re)].map((m) => [m[1], cxxInteger(m[2])]));
}

/** `PREFIXName = VALUE` entries of an enum body, as { Name: value }. */
export function cxxEnum(body: string, prefix: string): Record<string, number> {
  const re = new RegExp(`\\b${prefix}(\\w+)\\s*=\\s*([^,}]+)`, 'g');
  return Object.fromEntries([...body.matchAll(re)].map((m) => [m[1], cxxInteger(m[2])]));
}
