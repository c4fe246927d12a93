// uWSGI's magic variables (%n, %d, %p, ...): the table is refilled for every config file read, and substituted over
// the file's raw text before any parsing, so they work in keys and section names too (core/uwsgi.c
// config_magic_table_fill, core/utils.c magic_sub).
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from './errors';
import type { ConfigFile } from './host';
import type { ConfigWarning, FactsInput, ProcessFacts } from './types';

export type MagicTable = Map<string, string>;

const UPPER: Record<string, string> = { O: 'o', D: 'd', S: 's', P: 'p', C: 'c', E: 'e', N: 'n', X: 'x', I: 'i', J: 'j' };

/** Every variable uWSGI defines; any other %X also becomes "" in uWSGI, and here gives a warning too. */
const KNOWN = new Set('opsdencxijb0123456789OPSDENCXIJvhtTVk[uUgG%('.split(''));

/** uWSGI's djb33x over the bytes of %p (with C's signed char), printed as the 4 little-endian bytes in hex. */
export function djb33xHex(text: string): string {
  let h = 5381;
  for (const byte of Buffer.from(text, 'utf8')) {
    h = ((((h << 5) >>> 0) + h) ^ (byte >= 128 ? byte - 256 : byte)) >>> 0;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32LE(h);
  return out.toString('hex').toUpperCase();
}

export function baseTable(facts: ProcessFacts, startMicros: bigint): MagicTable {
  const t: MagicTable = new Map();
  t.set('%', '%');
  t.set('(', '%(');
  t.set('t', String(startMicros / 1000000n));
  t.set('T', String(startMicros));
  t.set('V', facts.version);
  t.set('k', String(facts.cpus));
  t.set('[', '\x1b');
  t.set('u', String(facts.uid));
  t.set('U', facts.user);
  t.set('g', String(facts.gid));
  t.set('G', facts.group);
  t.set('v', facts.cwd);
  t.set('h', facts.hostname);
  t.set('b', facts.binaryPath);
  return t;
}

/** Splits "file:section" at the last ':' as uWSGI does; `section` is undefined when there is no ':'. */
export function splitSection(spec: string): { file: string; section?: string } {
  const i = spec.lastIndexOf(':');
  return i < 0 ? { file: spec } : { file: spec.slice(0, i), section: spec.slice(i + 1) };
}

/**
 * Refills the per-file variables for `spec` (relative names resolve against cwd, as uWSGI's open() does) and returns
 * the absolute path (%p). `first` freezes the uppercase variables. ":section" alone keeps the previous file.
 * `loaded` is what the host found of the file (ConfigHost.openConfig).
 */
export function fillTable(
  t: MagicTable,
  spec: string,
  facts: ProcessFacts,
  first: boolean,
  origin: { file: string; line: number; option?: string },
  loaded: ConfigFile,
): string {
  const { file, section } = splitSection(spec);
  t.set('o', file);
  if (file !== '') {
    let full: string;
    if (loaded.symlink) {
      // uWSGI keeps a symlink's own name (so app1.ini -> app.skel gives %n = app1), prefixed by cwd when relative
      full = file.startsWith('/') ? file : `${facts.cwd}/${file}`;
    } else if (typeof loaded.real === 'string') {
      full = loaded.real;
    } else {
      throw new ConfigError(origin.file, origin.line, `realpath() of ${file} failed: ${loaded.real.code}`, origin.option, loaded.real.code);
    }
    t.set('p', full);
    t.set('j', djb33xHex(full));
    t.set('i', String(loaded.ino ?? ''));
    const s = full.slice(full.lastIndexOf('/') + 1);
    const d = full.slice(0, full.length - s.length);
    t.set('s', s);
    t.set('d', d);
    const bare = d.endsWith('/') ? d.slice(0, -1) : d;
    const slash = bare.lastIndexOf('/');
    t.set('c', slash >= 0 ? bare.slice(slash + 1) : '');
    const parts = bare.split('/').filter((x) => x !== '');
    for (let i = 0; i < 10; i++) t.set(String(i), parts[i] ?? '');
    const dot = s.lastIndexOf('.');
    t.set('e', dot >= 0 ? s.slice(dot + 1) : '');
    t.set('n', dot >= 0 ? s.slice(0, dot) : s);
  }
  t.set('x', section ?? '');
  if (first) for (const [up, low] of Object.entries(UPPER)) t.set(up, t.get(low) ?? '');
  return t.get('p') ?? file;
}

export interface Substituted {
  text: string;
  /** Source line (1-based) of each output line; undefined when lines map one to one. */
  lineOf?: number[];
}

/** magic_sub over a whole file: `%X` becomes the table's value (or "" for an unknown X, with a warning). */
export function substituteMagic(text: string, t: MagicTable, file: string, warnings: ConfigWarning[]): Substituted {
  if (!text.includes('%')) return { text };
  const out: string[] = [];
  const lineOf: number[] = [1];
  let line = 1;
  let from = 0;
  let i = text.indexOf('%');
  while (i >= 0 && i + 1 < text.length) {
    if (i > from) pushText(text.slice(from, i), true);
    const cp = text.codePointAt(i + 1)!;
    const ch = String.fromCodePoint(cp);
    const value = t.get(ch);
    if (value === undefined) {
      // non-ASCII after '%': uWSGI drops the first byte and leaves broken UTF-8; we drop the whole character
      if (!KNOWN.has(ch))
        warnings.push({
          file,
          line,
          message: `unknown magic variable %${ch >= ' ' ? ch : JSON.stringify(ch).slice(1, -1)} (uWSGI replaces it with "")`,
        });
      // "%" at the end of a line eats the newline: the next source line continues this output line
      if (ch === '\n') line++;
    } else {
      pushText(value, false);
    }
    from = i + 1 + ch.length;
    i = text.indexOf('%', from);
  }
  if (from < text.length) pushText(text.slice(from), true);
  return { text: out.join(''), lineOf };

  function pushText(s: string, fromSource: boolean): void {
    out.push(s);
    let nl = s.indexOf('\n');
    while (nl >= 0) {
      if (fromSource) line++;
      lineOf.push(line);
      nl = s.indexOf('\n', nl + 1);
    }
  }
}

/** What the caller knows of the vassal and the host; the language looks nothing up itself. */

let onlineCpus: number | undefined;

export function processFacts(opts: { cwd?: string; facts?: FactsInput }): ProcessFacts {
  const f = opts.facts ?? {};
  onlineCpus ??= Math.max(1, os.cpus().length);
  const uid = f.uid ?? process.getuid?.() ?? 0;
  const gid = f.gid ?? process.getgid?.() ?? 0;
  return {
    cpus: f.cpus ?? onlineCpus,
    version: f.version ?? '2.0.21-debian',
    cwd: path.resolve(opts.cwd ?? process.cwd()),
    binaryPath: f.binaryPath ?? '',
    hostname: f.hostname ?? os.hostname(),
    uid,
    gid,
    // uWSGI falls back to the number when the id has no name
    user: f.user ?? String(uid),
    group: f.group ?? String(gid),
  };
}
