// Real uWSGI as the oracle: `uwsgi ... --show-config` run in a throwaway sandbox (new namespaces, nobody, private
// /tmp), stopped right after the resolution by an unknown --clock (see test/fixtures/corpus/README.md).
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const UWSGI = '/usr/bin/uwsgi';
/** The environment every oracle run (and the matching loadConfig call) sees. */
export const ORACLE_ENV: Record<string, string> = { PATH: '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C.UTF-8' };
export const NOBODY = { uid: 65534, gid: 65534 };
/** What the oracle appends after the caller's arguments (and --chdir DIR first, so a config's missing chdir target
 * cannot stop uWSGI before it prints); these options end every printed block. */
const TRAILER = ['--show-config', '--logto', '/tmp/ucheck.log', '--clock', 'uwsgi_resolve_probe_exit'];

/** Removes the oracle's own options; options that uWSGI appends later (inherit) may follow them. */
function withoutTrailer(lines: string[] | undefined, dir: string): string[] | undefined {
  if (!lines) return undefined;
  const own = [`chdir = ${dir}`, 'show-config = true', 'logto = /tmp/ucheck.log', 'clock = uwsgi_resolve_probe_exit'];
  for (let i = lines.length - own.length; i >= 0; i--) {
    if (own.every((l, k) => lines[i + k] === l)) return [...lines.slice(0, i), ...lines.slice(i + own.length)];
  }
  return undefined;
}

export function assertUwsgiInstalled(): void {
  try {
    execFileSync(UWSGI, ['--version'], { stdio: 'pipe', timeout: 30000 });
  } catch (e) {
    throw new Error(
      `real uWSGI (${UWSGI}) is needed as the oracle and is missing or broken: install uwsgi-core (.ci/run does). ${String(e)}`,
    );
  }
}

/** A directory uWSGI's sandbox can see: not under /tmp or /var/tmp (they are fresh tmpfs inside), readable by nobody. */
export function makeOracleDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join('/var/lib', `${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

const SANDBOX_SCRIPT = `
mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp && mount -t tmpfs tmpfs /dev/shm || exit 97
cd "$UCHECK_DIR" || exit 98
shift_env="$UCHECK_ENV"
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs \\
  env -i $shift_env "$@" >/tmp/ucheck.out 2>&1
rc=$?; cat /tmp/ucheck.out; cat /tmp/ucheck.log 2>/dev/null; exit $rc`;

export interface OracleRun {
  status: number;
  output: string;
  /** The printed options as "key = value" lines, without the oracle's own trailing options; undefined if none printed. */
  lines?: string[];
}

/** Runs `uwsgi <args> --show-config ...` with cwd `dir`; `env` adds KEY=VALUE pairs (no spaces) to ORACLE_ENV. */
export function runUwsgiShowConfig(dir: string, args: string[], env: Record<string, string> = {}): Promise<OracleRun> {
  const pairs = Object.entries({ ...ORACLE_ENV, ...env }).map(([k, v]) => {
    if (/\s/.test(k + v)) throw new Error(`oracle env ${k} must not contain blanks`);
    return `${k}=${v}`;
  });
  const argv = [
    '-s',
    'KILL',
    '10',
    'unshare',
    '--fork',
    '--kill-child',
    '--net',
    '--mount',
    '--pid',
    '--mount-proc',
    '--ipc',
    '--uts',
    'env',
    `UCHECK_DIR=${dir}`,
    `UCHECK_ENV=${pairs.join(' ')}`,
    'sh',
    '-c',
    SANDBOX_SCRIPT,
    'sandbox',
    'uwsgi',
    ...args,
    '--chdir',
    dir,
    ...TRAILER,
  ];
  return new Promise((resolve) => {
    execFile('timeout', argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      const output = stdout + stderr;
      resolve({ status, output, lines: withoutTrailer(showConfigLines(output), dir) });
    });
  });
}

/** Strips what a config's own logger adds in front of each line (log-date prefixes, json encoders). */
export function cleanLogLine(line: string): string {
  if (line.startsWith('{')) {
    try {
      const m = (JSON.parse(line) as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    } catch {
      /* not an encoded line */
    }
  }
  return line
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - /, '')
    .replace(/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} - /, '');
}

/** The "key = value" lines of the first show-config block in uWSGI's output. */
export function showConfigLines(output: string): string[] | undefined {
  const raw = output.split('\n').map(cleanLogLine);
  const start = raw.indexOf(';uWSGI instance configuration');
  if (start < 0) return undefined;
  const out: string[] = [];
  for (let i = start + 1; i < raw.length; i++) {
    const l = raw[i];
    if (l === ';end of configuration') return out;
    if (l === '' || l === '[uwsgi]') continue;
    out.push(l);
  }
  return undefined;
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
