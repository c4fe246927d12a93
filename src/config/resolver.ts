// Resolves one vassal config the way uWSGI builds its option list (core/uwsgi.c uwsgi_setup, core/config.c
// add_exported_option): env options, then the command line with config files expanded inline and logic blocks
// decided as each line is read, then the $() @() %() passes, then `inherit` files appended.
import * as path from 'node:path';
import { formatOfName } from '../tables/formats';
import { isHostLimit } from '../tables/signals-errnos';
import { ConfigError } from './errors';
import { globSync } from './glob';
import { HostError, type ConfigHost } from './host';
import { baseTable, fillTable, processFacts, splitSection, substituteMagic, type MagicTable } from './magic';
import type { RawOption } from './parse-ini';
import { parseIni } from './parse-ini';
import { JsonSyntaxError, parseJson } from './parse-json';
import { XmlSyntaxError, parseXml } from './parse-xml';
import { YamlSyntaxError, parseYaml } from './parse-yaml';
import { sectionsOf, type FileSections } from './section-list';
import { applyPass, placeholder, type PassOption } from './passes';
import { decodeConfigText, MAX_CONFIG_BYTES, MAX_OPTIONS, MAX_RESOLVED_BYTES, type ReadOrigin } from './source';
import type { ConfigFormat, ConfigWarning, LoadOptions, ResolvedConfig, ProcessFacts } from './types';

/** uWSGI options flagged UWSGI_OPT_IMMEDIATE (2.0.21 core): run at parse time, skipped by the passes. */
const IMMEDIATE = new Set(
  (
    'xmlconfig xml config fallback-config strict set set-placeholder set-ph declare-option resolve ' +
    'for for-glob for-times for-readline endfor end-for if-opt if-not-opt if-env if-not-env ifenv if-reload ' +
    'if-not-reload if-hostname if-not-hostname if-hostname-match if-not-hostname-match if-exists if-not-exists ' +
    'ifexists if-plugin if-not-plugin ifplugin if-file if-not-file if-dir if-not-dir ifdir if-directory endif end-if ' +
    'blacklist end-blacklist whitelist end-whitelist include inject-before inject-after stop reload pause suspend ' +
    'resume connect-and-read extract listen umask help usage print-sym print-symbol spooler-processes signal flock ' +
    'flock-wait flock2 flock-wait2 immediate-uid immediate-gid ini yaml yml json js command-mode pcre-jit ' +
    'early-envdir plugins plugin need-plugins need-plugin plugins-dir plugin-dir autoload dlopen ' +
    'binary-append-data iprint exit cflags dot-h config-py build-plugin'
  ).split(' '),
);

const END_KEYS = new Set(['end', 'endfor', 'endif', 'end-if', 'end-for']);

const ENV_SKIP = new Set([
  'UWSGI_RELOADS',
  'UWSGI_VASSALS_DIR',
  'UWSGI_EMPEROR_FD',
  'UWSGI_BROODLORD_NUM',
  'UWSGI_EMPEROR_FD_CONFIG',
  'UWSGI_EMPEROR_PROXY',
  'UWSGI_JAIL_PID',
  'UWSGI_ORIGINAL_PROC_NAME',
]);

type LogicKind =
  | 'for'
  | 'for-glob'
  | 'for-times'
  | 'for-readline'
  | 'if-opt'
  | 'if-not-opt'
  | 'if-env'
  | 'if-not-env'
  | 'if-reload'
  | 'if-not-reload'
  | 'if-hostname'
  | 'if-not-hostname'
  | 'if-hostname-match'
  | 'if-not-hostname-match'
  | 'if-exists'
  | 'if-not-exists'
  | 'if-plugin'
  | 'if-not-plugin'
  | 'if-file'
  | 'if-not-file'
  | 'if-dir'
  | 'if-not-dir';

const LOGIC: Record<string, LogicKind> = {
  for: 'for',
  'for-glob': 'for-glob',
  'for-times': 'for-times',
  'for-readline': 'for-readline',
  'if-opt': 'if-opt',
  'if-not-opt': 'if-not-opt',
  'if-env': 'if-env',
  ifenv: 'if-env',
  'if-not-env': 'if-not-env',
  'if-reload': 'if-reload',
  'if-not-reload': 'if-not-reload',
  'if-hostname': 'if-hostname',
  'if-not-hostname': 'if-not-hostname',
  'if-hostname-match': 'if-hostname-match',
  'if-not-hostname-match': 'if-not-hostname-match',
  'if-exists': 'if-exists',
  ifexists: 'if-exists',
  'if-not-exists': 'if-not-exists',
  'if-plugin': 'if-plugin',
  ifplugin: 'if-plugin',
  'if-not-plugin': 'if-not-plugin',
  'if-file': 'if-file',
  'if-not-file': 'if-not-file',
  'if-dir': 'if-dir',
  ifdir: 'if-dir',
  'if-directory': 'if-dir',
  'if-not-dir': 'if-not-dir',
};

const LOADERS: Record<string, ConfigFormat> = {
  ini: 'ini',
  yaml: 'yaml',
  yml: 'yaml',
  json: 'json',
  js: 'json',
  xml: 'xml',
  xmlconfig: 'xml',
};

const MAX_INCLUDE_DEPTH = 64;

/** The reader uWSGI picks from how a file name ends. */
function formatOfPath(file: string): ConfigFormat | undefined {
  return formatOfName(file);
}

export function formatFromName(name: string): ConfigFormat | undefined {
  return formatOfPath(splitSection(name).file);
}

type Opt = PassOption;

interface Logic {
  kind: LogicKind;
  arg: string;
  file: string;
  line: number;
  key: string;
  load: number;
}

export class Resolver {
  readonly options: Opt[] = [];
  readonly warnings: ConfigWarning[] = [];
  private readonly facts: ProcessFacts;
  private readonly env: NodeJS.ProcessEnv;
  private readonly isReload: boolean;
  private readonly host: ConfigHost;
  private readonly table: MagicTable;
  /** Bytes of every key and value so far, against MAX_RESOLVED_BYTES. */
  private resolvedBytes = 0;
  private logic: Logic | undefined;
  private running = false;
  private firstRound = false;
  private lastIni: string | undefined;
  private readonly loading: string[] = [];
  private loadSeq = 0;
  private readonly customOptions = new Set<string>();
  private currentLoad = 0;
  topFile = '';

  constructor(opts: LoadOptions) {
    this.facts = processFacts(opts);
    this.env = opts.env ?? process.env;
    this.isReload = opts.isReload ?? false;
    this.host = opts.host;
    this.table = baseTable(this.facts, BigInt(Date.now()) * 1000n);
  }

  /** uWSGI's add_exported_option: logic blocks see the line first; immediate options act at once. */
  add(key: string, value: string, file: string, line: number, placeholderOnly = false): void {
    if (!this.running) {
      if (END_KEYS.has(key)) this.logic = undefined;
      if (this.logic) {
        this.running = true;
        let added: boolean;
        try {
          added = this.runLogic(this.logic, key, value, file, line);
        } finally {
          this.running = false;
        }
        if (!added && LOGIC[key] !== undefined) {
          this.warnings.push({
            file,
            line,
            message: `${key} inside the ${this.logic.key} block of line ${this.logic.line} is skipped, and its end closes that block (uWSGI has no nested logic)`,
          });
        }
        return;
      }
    }
    if (this.options.length >= MAX_OPTIONS) throw new ConfigError(file, line, `more than ${MAX_OPTIONS} options`, key);
    this.grow(key.length + value.length, { file, line, option: key });
    const opt: Opt = { key, value, file, line, configured: placeholderOnly };
    this.options.push(opt);
    if (this.customOptions.has(key)) {
      this.warnings.push({
        file,
        line,
        message: `${key} is a declare-option custom option: it is kept as written, its expansion is not applied here`,
      });
    }
    if (!placeholderOnly && IMMEDIATE.has(key)) {
      opt.configured = true;
      this.immediate(opt);
    }
  }

  private immediate(opt: Opt): void {
    const { key, value } = opt;
    const origin: ReadOrigin = { file: opt.file, line: opt.line, option: key };
    const loader = LOADERS[key];
    if (loader) {
      this.load(value, loader, origin, true);
      // Debian's uWSGI (yajl, libxml2) cuts ":section" off the option's own value and never puts it back
      if (loader === 'json' || loader === 'xml') opt.value = splitSection(value).file;
      return;
    }
    const kind = LOGIC[key];
    if (kind) {
      if (this.logic)
        throw new ConfigError(
          opt.file,
          opt.line,
          `nested logic is not supported: the ${this.logic.key} block of line ${this.logic.line} is still open`,
          key,
        );
      this.logic = { kind, arg: value, file: opt.file, line: opt.line, key, load: this.currentLoad };
      return;
    }
    switch (key) {
      case 'include':
        return this.load(value, this.includeFormat(opt), origin, false);
      case 'config':
        throw new ConfigError(opt.file, opt.line, `unable to load configuration from ${value} (no pluggable configurator)`, key);
      case 'set':
      case 'set-placeholder':
      case 'set-ph': {
        const eq = value.indexOf('=');
        if (eq < 0) throw new ConfigError(opt.file, opt.line, `invalid placeholder/--set value "${value}" (expected name=value)`, key);
        return this.add(value.slice(0, eq), value.slice(eq + 1), opt.file, opt.line, key !== 'set');
      }
      case 'declare-option': {
        const eq = value.indexOf('=');
        if (eq < 0) throw new ConfigError(opt.file, opt.line, `invalid ${value} syntax, must be newoption=template`, key);
        this.customOptions.add(value.slice(0, eq));
        return;
      }
      case 'exit':
        throw new ConfigError(
          opt.file,
          opt.line,
          `the config asks uWSGI to exit (status ${value === '' ? 1 : parseInt(value, 10) || 0})`,
          key,
        );
      default:
        return;
    }
  }

  /** uwsgi_opt_load picks the reader from the name's ending, so "x.ini:section" matches none and uWSGI exits. */
  private includeFormat(opt: Opt): ConfigFormat {
    const v = opt.value;
    const fmt = formatOfPath(v);
    if (fmt) return fmt;
    const hint = formatFromName(v) ? ` (${opt.key} takes no :section; ini = file:section does)` : ' (unknown file type)';
    throw new ConfigError(opt.file, opt.line, `unable to load configuration from ${v}${hint}`, opt.key);
  }

  /** Reads one config file and adds its options (uwsgi_opt_load_ini and friends). */
  load(spec: string, format: ConfigFormat, origin: ReadOrigin | undefined, mayFreezeUpper: boolean): void {
    const { shown, text, sub, section, id } = this.read(spec, format, origin, mayFreezeUpper);
    const want = section === undefined || section === '' ? 'uwsgi' : section;
    let parsed: { options: RawOption[]; found: boolean };
    try {
      parsed =
        format === 'ini'
          ? parseIni(sub.text, sub.lineOf, want)
          : format === 'yaml'
            ? parseYaml(sub.text, sub.lineOf, want)
            : format === 'xml'
              ? parseXml(sub.text, sub.lineOf, section)
              : parseJson(sub.text, sub.lineOf, want);
    } catch (e) {
      throw syntaxError(e, shown, sub.lineOf);
    }
    if (!parsed.found) {
      if (format === 'json') throw new ConfigError(shown, 1, `no object named "${want}" in the JSON data`);
      this.warnings.push({
        file: shown,
        line: 0,
        message: format === 'xml' ? `the root element of ${shown} has no child: no options` : `can't find section "${want}" in ${shown}`,
      });
    }
    if (text.charCodeAt(0) === 0xfeff && format === 'ini') {
      this.warnings.push({
        file: shown,
        line: 1,
        message: 'file starts with a UTF-8 BOM: uWSGI reads "\\uFEFF[uwsgi]" as a key, not a section',
      });
    }
    const parentLoad = this.currentLoad;
    this.currentLoad = ++this.loadSeq;
    this.loading.push(id);
    try {
      for (const o of parsed.options) this.add(o.key, o.value, shown, o.line);
      if (this.logic && this.logic.load === this.currentLoad) {
        throw new ConfigError(
          shown,
          this.logic.line,
          `unterminated ${this.logic.key} block (no endif/endfor before the end of the file)`,
          this.logic.key,
        );
      }
    } finally {
      this.loading.pop();
      this.currentLoad = parentLoad;
    }
  }

  /** The sections of a vassal file, read the way `load` reads it (magic variables substituted first). */
  sections(spec: string, format: ConfigFormat): FileSections {
    const { shown, sub } = this.read(spec, format, undefined, true);
    try {
      return sectionsOf(format, sub.text);
    } catch (e) {
      throw syntaxError(e, shown, sub.lineOf);
    }
  }

  /** Opens, decodes and magic-substitutes one config file, refilling the per-file magic variables. */
  private read(spec: string, format: ConfigFormat, origin: ReadOrigin | undefined, mayFreezeUpper: boolean) {
    const where = origin ?? { file: spec, line: 0 };
    if (spec === '-' || /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(spec)) {
      throw new ConfigError(
        where.file,
        where.line,
        `${spec}: only config files are supported here (no stdin or scheme URLs)`,
        origin?.option,
      );
    }
    const split = splitSection(spec);
    const { section } = split;
    let { file } = split;
    if (file === '') {
      if (format !== 'ini' || this.lastIni === undefined)
        throw new ConfigError(where.file, where.line, `"${spec}" names a section but no ini file was read before`, origin?.option);
      file = this.lastIni;
    }
    // uWSGI exits with "invalid xml id"
    if (format === 'xml' && section === '')
      throw new ConfigError(where.file, where.line, `${spec}: invalid xml id (nothing after ':')`, origin?.option);
    if (this.loading.length >= MAX_INCLUDE_DEPTH)
      throw new ConfigError(where.file, where.line, `includes nested deeper than ${MAX_INCLUDE_DEPTH}`, origin?.option);
    const readPath = path.resolve(this.facts.cwd, file);
    const loaded = this.io(where, () => this.host.openConfig(readPath, MAX_CONFIG_BYTES));
    const freeze = mayFreezeUpper && !this.firstRound;
    const shown = fillTable(this.table, spec, this.facts, freeze, where, loaded);
    if (freeze) {
      // the first file read by a loader option (never by include) is the vassal file itself
      this.firstRound = true;
      this.topFile = shown;
    }
    // a missing file has no realpath: the read below says what is wrong
    const id = `${typeof loaded.real === 'string' ? loaded.real : readPath}:${section ?? ''}`;
    if (this.loading.includes(id)) {
      throw new ConfigError(
        where.file,
        where.line,
        `include cycle: ${spec} is already being read (${this.loading.map((x) => x.replace(/:$/, '')).join(' -> ')})`,
        origin?.option,
      );
    }
    // an include is blamed on the line that names it; the vassal file itself (named by no line) on itself
    const readBy = origin && origin.line > 0 ? origin : { file: shown, line: 0 };
    if (loaded.bytes instanceof HostError) throw this.blame(loaded.bytes, readBy);
    const text = decodeConfigText(loaded.bytes, shown);
    if (format === 'ini') this.lastIni = file;
    return { shown, text, sub: substituteMagic(text, this.table, shown, this.warnings), section, id };
  }

  /** Runs one host call for the line at `where`: a HostError becomes a ConfigError naming that line. */
  private io<T>(where: ReadOrigin, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof HostError) throw this.blame(e, where);
      throw e;
    }
  }

  private blame(e: HostError, where: ReadOrigin): ConfigError {
    return new ConfigError(where.file, where.line, e.message, where.option, e.code);
  }

  /** Counts resolved bytes, so that no file (or expansion) makes the option list grow without end. */
  private grow(bytes: number, where: ReadOrigin): void {
    this.resolvedBytes += bytes;
    if (this.resolvedBytes > MAX_RESOLVED_BYTES) {
      throw new ConfigError(where.file, where.line, `the resolved options pass the ${MAX_RESOLVED_BYTES}-byte limit`, where.option);
    }
  }

  private firstValue(name: string): string | undefined {
    for (const o of this.options) if (o.key === name) return o.value;
    return undefined;
  }

  private pluginLoaded(name: string): boolean {
    const want = name.replace(/_plugin(\.so)?$/, '');
    for (const o of this.options) {
      if (!/^(plugins?|need-plugins?)$/.test(o.key)) continue;
      for (const p of o.value.split(',')) if (path.basename(p.trim()).replace(/_plugin(\.so)?$/, '') === want) return true;
    }
    return false;
  }

  private testPath(p: string, what: 'exists' | 'file' | 'dir', l: Logic): boolean {
    const st = this.io({ file: l.file, line: l.line, option: l.key }, () => this.host.stat(path.resolve(this.facts.cwd, p), true));
    return st !== null && (what === 'exists' || st.type === what);
  }

  /** The logic function of the open block (core/config.c uwsgi_logic_opt_*): re-adds the line if its test holds. */
  private runLogic(l: Logic, key: string, value: string, file: string, line: number): boolean {
    const with_ = (ctx: string | undefined): string => (ctx === undefined ? value : value.split('%(_)').join(ctx));
    const readd = (ctx: string | undefined): true => {
      this.add(key, with_(ctx), file, line);
      return true;
    };
    const arg = l.arg;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const wanted = eq < 0 ? undefined : arg.slice(eq + 1);
    switch (l.kind) {
      case 'for':
        for (const tok of arg.split(' ')) if (tok !== '') readd(tok);
        return true;
      case 'for-glob':
        for (const p of this.io({ file: l.file, line: l.line, option: l.key }, () => globSync(arg, this.facts.cwd, this.host))) readd(p);
        return true;
      case 'for-times': {
        const n = parseInt(arg, 10) || 0;
        if (n > 100000) throw new ConfigError(l.file, l.line, `for-times ${n} is too many`, l.key);
        for (let i = 1; i <= n; i++) readd(String(i));
        return true;
      }
      case 'for-readline': {
        let text: string;
        try {
          text = this.host.readFile(path.resolve(this.facts.cwd, arg), MAX_CONFIG_BYTES).toString('utf8');
        } catch (e) {
          // uWSGI skips a list it cannot open; a hung mount, a device, an oversized list or a host limit (no agent
          // to be had) is an error here
          if (!(e instanceof HostError) || ['ETIMEDOUT', 'ENOTREG', 'EFBIG', 'EAGENT'].includes(e.code) || isHostLimit(e))
            throw e instanceof HostError ? this.blame(e, { file: l.file, line: l.line, option: l.key }) : e;
          this.warnings.push({ file: l.file, line: l.line, message: `for-readline: ${e.message}` });
          return false;
        }
        const parts = text.split(/(?<=\n)/);
        for (const part of parts) {
          // fgets(1024) hands over at most 1023 bytes at a time
          for (let i = 0; i < part.length; i += 1023) readd(part.slice(i, i + 1023).replace(/[\r\n]+$/, ''));
        }
        return true;
      }
      case 'if-opt':
      case 'if-not-opt':
      case 'if-env':
      case 'if-not-env': {
        const p = l.kind.endsWith('opt') ? this.firstValue(name) : name === '' ? undefined : this.env[name];
        const holds = p !== undefined && (wanted === undefined || wanted === p);
        if (l.kind.startsWith('if-not-') ? holds : !holds) return false;
        return readd(p);
      }
      case 'if-reload':
      case 'if-not-reload':
        if ((l.kind === 'if-reload') !== this.isReload) return false;
        this.add(key, value, file, line);
        return true;
      case 'if-exists':
      case 'if-not-exists':
        return this.testPath(arg, 'exists', l) === (l.kind === 'if-exists') ? readd(arg) : false;
      case 'if-file':
      case 'if-not-file':
        return this.testPath(arg, 'file', l) === (l.kind === 'if-file') ? readd(arg) : false;
      case 'if-dir':
      case 'if-not-dir':
        return this.testPath(arg, 'dir', l) === (l.kind === 'if-dir') ? readd(arg) : false;
      case 'if-plugin':
      case 'if-not-plugin':
        return this.pluginLoaded(arg) === (l.kind === 'if-plugin') ? readd(arg) : false;
      case 'if-hostname':
      case 'if-not-hostname':
        return (this.facts.hostname === arg) === (l.kind === 'if-hostname') ? readd(arg) : false;
      case 'if-hostname-match':
      case 'if-not-hostname-match': {
        let re: RegExp;
        try {
          re = new RegExp(arg);
        } catch (e) {
          throw new ConfigError(l.file, l.line, `invalid regular expression: ${(e as Error).message}`, l.key);
        }
        return re.test(this.facts.hostname) === (l.kind === 'if-hostname-match') ? readd(arg) : false;
      }
    }
  }

  /** UWSGI_* environment variables become options first (core/utils.c parse_sys_envs). */
  addEnvOptions(): void {
    for (const [name, value] of Object.entries(this.env)) {
      if (!name.startsWith('UWSGI_') || ENV_SKIP.has(name) || value === undefined) continue;
      this.add(name.slice(6).toLowerCase().replace(/_/g, '-'), value, '<env>', 0);
    }
  }

  private atRead(name: string, opt: Opt): string {
    const where = { file: opt.file, line: opt.line, option: opt.key };
    let bytes: Buffer;
    try {
      if (name.startsWith('exec://')) bytes = this.host.exec(name.slice(7), this.facts.cwd, MAX_CONFIG_BYTES);
      else if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(name))
        throw new ConfigError(opt.file, opt.line, `@(${name}): only files and exec:// are supported`, opt.key);
      else bytes = this.host.readFile(path.resolve(this.facts.cwd, name), MAX_CONFIG_BYTES);
    } catch (e) {
      if (e instanceof HostError) throw new ConfigError(where.file, where.line, `@(${name}): ${e.message}`, where.option, e.code);
      throw e;
    }
    const text = bytes.toString('utf8');
    const last = text[text.length - 1];
    return last === '\n' || last === '\r' ? text.slice(0, -1) : text;
  }

  /** The passes and the late `inherit` loads; returns the options in order. */
  finish(): void {
    const grew = (delta: number, o: Opt) => this.grow(delta, { file: o.file, line: o.line, option: o.key });
    applyPass(this.options, '$', (name) => (name === '' ? undefined : this.env[name]), grew);
    applyPass(this.options, '@', (name, opt) => this.atRead(name, opt), grew);
    const first = new Map<string, Opt>();
    for (const o of this.options) if (!first.has(o.key)) first.set(o.key, o);
    applyPass(this.options, '%', (name) => placeholder(name, (k) => first.get(k)?.value), grew);
    // uwsgi_configure: non-immediate options apply in order; `inherit` appends its file's options at the end
    for (let i = 0; i < this.options.length; i++) {
      const o = this.options[i];
      if (o.configured || o.key !== 'inherit') continue;
      o.configured = true;
      this.load(o.value, this.includeFormat(o), { file: o.file, line: o.line, option: o.key }, false);
    }
  }
}

/** The sections of a vassal file (read as the vassal's own resolution reads it: same host, cwd and magic). */
export function fileSections(spec: string, opts: LoadOptions): FileSections {
  return new Resolver(opts).sections(spec, opts.format ?? formatFromName(spec) ?? 'ini');
}

/** A reader's syntax error as a ConfigError of the file, at the line of the original text. */
function syntaxError(e: unknown, shown: string, lineOf: number[] | undefined): unknown {
  if (e instanceof JsonSyntaxError) return new ConfigError(shown, lineOf?.[e.line - 1] ?? e.line, `invalid JSON: ${e.message}`);
  if (e instanceof YamlSyntaxError) return new ConfigError(shown, lineOf?.[e.line - 1] ?? e.line, `invalid YAML: ${e.message}`);
  if (e instanceof XmlSyntaxError) return new ConfigError(shown, lineOf?.[e.line - 1] ?? e.line, e.message);
  return e;
}

export function resolve(spec: string, opts: LoadOptions): ResolvedConfig {
  const r = new Resolver(opts);
  const cmd = '<command line>';
  r.addEnvOptions();
  // the vassal's argv as the emperor builds it: (--inherit T)* (--include I)* (--set KV)* --ini F (--inherit T)* (--include I)*
  for (const inh of opts.inheritsBefore ?? []) r.add('inherit', inh, cmd, 0);
  for (const inc of opts.includesBefore ?? []) r.add('include', inc, cmd, 0);
  for (const kv of opts.set ?? []) r.add('set', kv, '<vassal-set>', 0);
  const format = opts.format ?? formatFromName(spec) ?? 'ini';
  r.add(format, spec, cmd, 0);
  for (const inh of opts.inherits ?? []) r.add('inherit', inh, cmd, 0);
  for (const inc of opts.includes ?? []) r.add('include', inc, cmd, 0);
  r.finish();
  return {
    spec,
    file: r.topFile,
    options: r.options.map(({ key, value, file, line }) => ({ key, value, file, line })),
    warnings: r.warnings,
  };
}
