// XML vassal files as Debian's uWSGI (libxml2 build, core/xmlconf.c) reads them, parsed by saxes: a strict,
// non-validating parser that reads no DTD and expands no entity beyond XML's five and character references.
//
// uWSGI's rules, kept here:
// - the section is the root element when it is <uwsgi> (whatever its id); otherwise the first <uwsgi> child of the
//   root whose id is the wanted one or that has no id (with no ":id" wanted, the first <uwsgi> child). A root with
//   children but no such <uwsgi> is an error; a root with no children at all gives no options.
// - each child of the section is an option: an element named as the option, in order, repeats kept; a CDATA section
//   is an `eval` option. Text, comments and processing instructions between them are ignored.
// - an option element with an `id` attribute is skipped when an id is wanted and it is another one.
// - the value is the element's first child as libxml2 keeps it: its text (up to the first comment, CDATA or element),
//   a first CDATA, comment or processing instruction's content; an element with no child at all is "1". Nested
//   elements are otherwise ignored.
// - <app mountpoint="M" | domain="D">X</app> becomes `mount = M=X` (or `D|=X`) then `app = `.
// - the `mode` attribute is ignored: uWSGI compares it with --mode, which is never set while configs are parsed.
// Where uWSGI crashes (an option whose first child is an element, an empty processing instruction) or silently
// reads something else (a DTD's entities), this is a ConfigError with the line.
import { SaxesParser } from 'saxes';
import type { RawOption } from './parse-ini';
import { MAX_OPTIONS } from './source';

// saxes keeps every open element and every attribute of the element being read: bounded here, so that a file
// (16 MiB at most) of nested tags or attributes costs a clear error, not the reader's memory. uWSGI looks 4 deep.
const MAX_DEPTH = 64;
const MAX_ATTRIBUTES = 256;

export class XmlSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** What libxml2 keeps as a node's content: null for an element (and for an empty processing instruction). */
type Content = string | null;

interface Kid {
  content: Content;
  /** For a kid that is an element: whether it has a child, and that first child's content (<app> looks that deep). */
  hasFirst?: boolean;
  first?: Content;
}

interface OptionElement {
  kind: 'element';
  name: string;
  attrs: Record<string, string>;
  line: number;
  /** The first two children (all that uWSGI looks at). */
  kids: Kid[];
}

type Entry = OptionElement | { kind: 'cdata'; value: string; line: number };

/** Sections of a file in multi-section mode: the default one (the plain file) and the named ones. */
export interface XmlSections {
  hasDefault: boolean;
  named: string[];
}

function localName(raw: string, prefixes: ReadonlySet<string>): string {
  const colon = raw.indexOf(':');
  return colon > 0 && prefixes.has(raw.slice(0, colon)) ? raw.slice(colon + 1) : raw;
}

/** libxml2's xmlGetProp: the first attribute with that local name, whatever its namespace. */
function prop(attrs: Record<string, string>, name: string): string | undefined {
  for (const [k, v] of Object.entries(attrs)) if (k === name || k.endsWith(`:${name}`)) return v;
  return undefined;
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

interface Scan {
  rootName: string;
  rootLine: number;
  /** The root has a child node of any kind (when it is not the section itself). */
  rootHasChildren: boolean;
  /** The section element's depth (0: the root, 1: a <uwsgi> child), undefined when none was chosen. */
  sectionDepth?: number;
  entries: Entry[];
  /** The id of every <uwsgi> child of a root that is not <uwsgi> (null: no id). */
  uwsgiChildren: Array<string | null>;
}

/**
 * One pass of saxes over the file, keeping only what uWSGI looks at: the section's children, the first two children
 * of each option element and the first child of the second one. Nothing else is kept, however large the file.
 */
function scan(text: string, wanted: string | undefined): Scan {
  const p = new SaxesParser({ position: true, xmlns: false });
  const s: Scan = { rootName: '', rootLine: 1, rootHasChildren: false, entries: [], uwsgiChildren: [] };
  // the namespace prefixes bound at each open element (libxml2 names an element by its local name once bound)
  const frames: Array<ReadonlySet<string>> = [];
  let sectionOpen = false;
  let openLine = 1;
  let option: OptionElement | undefined;
  let secondOpen = false;
  const fail = (line: number, message: string): never => {
    throw new XmlSyntaxError(line, message);
  };
  /** Depth of a node at `depth` below the section element, undefined outside it. */
  const rel = (depth: number): number | undefined => (sectionOpen ? depth - s.sectionDepth! : undefined);
  const push = (e: Entry): void => {
    if (s.entries.length >= MAX_OPTIONS) fail(e.line, `more than ${MAX_OPTIONS} options`);
    s.entries.push(e);
  };
  /** A node that is not an element, at the current depth. */
  const leaf = (content: Content, cdata?: Entry): void => {
    const depth = frames.length;
    if (depth === 1 && s.sectionDepth !== 0) s.rootHasChildren = true;
    const r = rel(depth);
    if (r === 1 && cdata) push(cdata);
    else if (r === 2 && option && option.kids.length < 2) option.kids.push({ content });
    else if (r === 3 && secondOpen && !option!.kids[1].hasFirst) Object.assign(option!.kids[1], { hasFirst: true, first: content });
  };

  p.on('error', (e) => fail(p.line, `invalid XML: ${e.message.replace(/^\d+:\d+: /, '')}`));
  p.on('doctype', (d) =>
    fail(p.line - countLines(d), 'a DTD (<!DOCTYPE ...>) is not accepted: no entity or external subset of a vassal file is ever read'),
  );
  p.on('xmldecl', (d) => {
    if (d.encoding !== undefined && !/^(utf-?8|us-ascii|ascii)$/i.test(d.encoding))
      fail(p.line, `encoding "${d.encoding}": vassal files are read as UTF-8 only`);
  });
  let attributes = 0;
  p.on('opentagstart', () => {
    // the event comes once the character after the name is read: a newline there is not the tag's line
    const after = text[p.position - 1];
    openLine = after === '\n' || after === '\r' ? p.line - 1 : p.line;
    attributes = 0;
    if (frames.length >= MAX_DEPTH) fail(p.line, `elements nested deeper than ${MAX_DEPTH}`);
  });
  p.on('attribute', () => {
    if (++attributes > MAX_ATTRIBUTES) fail(p.line, `more than ${MAX_ATTRIBUTES} attributes on one element`);
  });
  p.on('opentag', (tag) => {
    const depth = frames.length;
    const prefixes = new Set(frames[depth - 1] ?? []);
    const attrs = tag.attributes as Record<string, string>;
    for (const k of Object.keys(attrs)) if (k.startsWith('xmlns:')) prefixes.add(k.slice(6));
    frames.push(prefixes);
    const name = localName(tag.name, prefixes);
    if (depth === 0) {
      s.rootName = name;
      s.rootLine = openLine;
      if (name === 'uwsgi') {
        s.sectionDepth = 0;
        sectionOpen = true;
      }
      return;
    }
    if (depth === 1 && s.sectionDepth !== 0) {
      s.rootHasChildren = true;
      if (name !== 'uwsgi') return;
      const id = prop(attrs, 'id');
      s.uwsgiChildren.push(id ?? null);
      if (s.sectionDepth === undefined && (wanted === undefined || id === undefined || id === wanted)) {
        s.sectionDepth = 1;
        sectionOpen = true;
      }
      return;
    }
    const r = rel(depth);
    if (r === 1) {
      option = { kind: 'element', name, attrs, line: openLine, kids: [] };
      push(option);
    } else if (r === 2 && option && option.kids.length < 2) {
      option.kids.push({ content: null });
      secondOpen = option.kids.length === 2;
    } else if (r === 3 && secondOpen && !option!.kids[1].hasFirst) {
      Object.assign(option!.kids[1], { hasFirst: true, first: null });
    }
  });
  p.on('closetag', () => {
    frames.pop();
    const r = rel(frames.length);
    // once the chosen section closes nothing more is read (uWSGI takes one section)
    if (r === 0) sectionOpen = false;
    else if (r === 1) option = undefined;
    else if (r === 2) secondOpen = false;
  });
  p.on('text', (t) => {
    if (frames.length > 0) leaf(t);
  });
  p.on('cdata', (c) => leaf(c, { kind: 'cdata', value: c, line: p.line - countLines(c) }));
  p.on('comment', (c) => {
    if (frames.length > 0) leaf(c);
  });
  // libxml2 keeps an empty processing instruction's content as NULL
  p.on('processinginstruction', (pi) => {
    if (frames.length > 0) leaf(pi.body === '' ? null : pi.body);
  });
  p.write(text).close();
  return s;
}

function optionsOf(s: Scan, wanted: string | undefined, lineOf: (n: number) => number): RawOption[] {
  const out: RawOption[] = [];
  for (const e of s.entries) {
    const line = lineOf(e.line);
    if (e.kind === 'cdata') {
      out.push({ key: 'eval', value: e.value, line });
      continue;
    }
    const id = prop(e.attrs, 'id');
    if (wanted !== undefined && id !== undefined && id !== wanted) continue;
    const [first, second] = e.kids;
    if (e.name === 'app') {
      let mount: Content | undefined;
      if (!first) {
        out.push({ key: 'app', value: '', line });
        continue;
      }
      if (first.content !== null && !second) mount = first.content;
      else if (second && second.hasFirst && second.first !== null) mount = second.first;
      if (mount === undefined || mount === null) continue;
      const mp = prop(e.attrs, 'mountpoint');
      const domain = prop(e.attrs, 'domain');
      const value = mp !== undefined ? `${mp}=${mount}` : domain !== undefined ? `${domain}|=${mount}` : mount;
      out.push({ key: 'mount', value, line }, { key: 'app', value: '', line });
      continue;
    }
    if (!first) {
      out.push({ key: e.name, value: '1', line });
      continue;
    }
    if (first.content === null) {
      // unmapped, as every XmlSyntaxError: the resolver maps it to the file's own line
      throw new XmlSyntaxError(
        e.line,
        `<${e.name}> starts with an element or an empty processing instruction, not a value (uWSGI crashes on this)`,
      );
    }
    out.push({ key: e.name, value: first.content, line });
  }
  return out;
}

/**
 * Options of the section uWSGI picks for `file.xml[:id]` (`wanted` is the id, undefined without ':'); `found` is
 * false when the root has no child at all (uWSGI then reads nothing, silently).
 */
export function parseXml(text: string, lineOf: number[] | undefined, wanted: string | undefined): { options: RawOption[]; found: boolean } {
  const s = scan(text, wanted);
  if (s.sectionDepth === undefined) {
    if (s.rootHasChildren)
      throw new XmlSyntaxError(
        s.rootLine,
        `no <uwsgi> element${wanted === undefined ? '' : ` with id "${wanted}" (or no id)`} under the root <${s.rootName}>`,
      );
    return { options: [], found: false };
  }
  return { options: optionsOf(s, wanted, (n) => (lineOf ? (lineOf[n - 1] ?? n) : n)), found: true };
}

/** The sections a multi-section emperor makes vassals of: the <uwsgi> root or id-less <uwsgi>, and every id. */
export function xmlSections(text: string): XmlSections {
  const s = scan(text, undefined);
  if (s.rootName === 'uwsgi') return { hasDefault: true, named: [] };
  const named: string[] = [];
  for (const id of s.uwsgiChildren) if (id !== null && !named.includes(id)) named.push(id);
  return { hasDefault: s.uwsgiChildren.includes(null), named };
}
