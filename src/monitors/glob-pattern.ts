// glob(3) patterns as uWSGI's glob monitor uses them (no GLOB_PERIOD, no GLOB_BRACE, backslash escapes): '*', '?'
// and '[...]' ('!' or '^' negates, ranges) within one path segment; a leading '.' only matched by a literal '.'.
// The walk is written once as a generator that asks for directory listings, answered by the caller's lister (the
// monitors' MonitorFs: an agent process with a time budget).
import * as path from 'node:path';
import { mapBatched } from './stat-source';

interface Segment {
  /** The segment unescaped when it has no wildcard, else null. */
  literal: string | null;
  re: RegExp | null;
  /** The pattern segment starts with a literal '.', so it may match dotfiles. */
  dotOk: boolean;
}

export interface GlobMatch {
  /** The path as glob(3) returns it: built from the pattern's own text (relative stays relative). */
  name: string;
  path: string;
}

export interface GlobWalk {
  /** Candidate paths; those reached through literal trailing segments still need a stat to exist. */
  matches: GlobMatch[];
  /** Absolute directories the pattern looks into; `leaf` ones hold the final segment's matches. */
  dirs: { path: string; prefix: string; leaf: boolean }[];
}

export interface ParsedGlob {
  /** Text of the leading wildcard-free directory part ('' for relative, '/' for the root). */
  root: string;
  segments: Segment[];
}

export function hasMagic(pattern: string): boolean {
  return parseSegment(pattern).literal === null;
}

export function parseGlob(pattern: string): ParsedGlob {
  const parts = pattern.split('/');
  const absolute = parts[0] === '' && pattern.startsWith('/');
  const body = absolute ? parts.slice(1) : parts;
  let lead = 0;
  // the last segment always stays a segment, so the walk has a leaf level even for a wildcard-free pattern
  while (lead < body.length - 1 && parseSegment(body[lead]).literal !== null) lead++;
  const rootText = body
    .slice(0, lead)
    .map((s) => parseSegment(s).literal as string)
    .join('/');
  return { root: absolute ? '/' + rootText : rootText, segments: body.slice(lead).map(parseSegment) };
}

function parseSegment(seg: string): Segment {
  let re = '';
  let lit = '';
  let magic = false;
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '\\' && i + 1 < seg.length) {
      i++;
      re += escapeRe(seg[i]);
      lit += seg[i];
    } else if (c === '*') {
      magic = true;
      re += '[^/]*';
    } else if (c === '?') {
      magic = true;
      re += '[^/]';
    } else if (c === '[') {
      const cls = parseClass(seg, i);
      if (cls) {
        magic = true;
        re += cls.re;
        i = cls.end;
      } else {
        re += '\\[';
        lit += c;
      }
    } else {
      re += escapeRe(c);
      lit += c;
    }
  }
  return magic ? { literal: null, re: new RegExp(`^${re}$`, 's'), dotOk: seg.startsWith('.') } : { literal: lit, re: null, dotOk: true };
}

function parseClass(seg: string, start: number): { re: string; end: number } | null {
  let i = start + 1;
  let negate = false;
  if (seg[i] === '!' || seg[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < seg.length; i++) {
    const c = seg[i];
    if (c === ']' && !first) return { re: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    if (c === '\\' && i + 1 < seg.length) body += '\\' + seg[++i];
    else body += /[\\\]\[^]/.test(c) ? '\\' + c : c;
  }
  return null;
}

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? '\\' + c : c;
}

function matches(seg: Segment, name: string): boolean {
  if (seg.literal !== null) return seg.literal === name;
  if (name.startsWith('.') && !seg.dotOk) return false;
  return (seg.re as RegExp).test(name);
}

/** Whether `name` (one directory entry) can match the last segment of the pattern. */
export function matchesLeaf(g: ParsedGlob, name: string): boolean {
  return matches(g.segments[g.segments.length - 1], name);
}

function join(prefix: string, name: string): string {
  if (prefix === '') return name;
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`;
}

/** Yields the absolute directories it needs listed (answered with entry names, or null when unreadable). */
function* walk(g: ParsedGlob, cwd: string): Generator<string[], GlobWalk, (string[] | null)[]> {
  let prefixes = [g.root];
  const dirs: GlobWalk['dirs'] = [];
  for (let level = 0; level < g.segments.length; level++) {
    const seg = g.segments[level];
    const abs = prefixes.map((p) => path.resolve(cwd, p === '' ? '.' : p));
    const leaf = level === g.segments.length - 1;
    prefixes.forEach((prefix, i) => dirs.push({ path: abs[i], prefix, leaf }));
    if (seg.literal !== null) {
      prefixes = prefixes.map((p) => join(p, seg.literal as string));
      continue;
    }
    const listings = yield abs;
    const next: string[] = [];
    prefixes.forEach((p, i) => {
      for (const name of (listings[i] ?? []).sort()) if (matches(seg, name)) next.push(join(p, name));
    });
    prefixes = next;
  }
  return { matches: prefixes.map((name) => ({ name, path: path.resolve(cwd, name) })), dirs };
}

/** Lists a directory: its entry names, or null when it cannot be listed. */
export type Lister = (dir: string) => Promise<string[] | null>;

export async function expandGlob(g: ParsedGlob, cwd: string, width: number, list: Lister): Promise<GlobWalk> {
  const it = walk(g, cwd);
  let step = it.next([]);
  while (!step.done) {
    const listings = await mapBatched(step.value, width, list);
    step = it.next(listings);
  }
  return step.value;
}
