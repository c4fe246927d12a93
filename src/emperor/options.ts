// The emperor's options: one table serves the command line (commander) and the emperor's own config file
// (--ini/--yaml/--json, read with the vassal config reader), so a user's existing emperor.ini works unchanged.
import type { ConfigOption } from '../config/types';
import { NAMESPACE_WORDS, namespaceOf, type Namespace } from '../tables/namespaces';

type Kind = 'list' | 'string' | 'number' | 'bool';

interface OptionSpec {
  key: string;
  kind: Kind;
  help: string;
  aliases?: string[];
  /** Numbers: the default. */
  def?: number | string;
  arg?: string;
}

export const OPTION_TABLE: OptionSpec[] = [
  { key: 'emperor', kind: 'list', arg: 'spec', help: 'vassal source: a directory, dir://DIR or glob://PATTERN (repeatable)' },
  { key: 'emperor-freq', kind: 'number', def: 3, arg: 'seconds', help: 'full rescan period; inotify does the rest' },
  { key: 'emperor-throttle', kind: 'number', def: 1000, arg: 'ms', help: 'throttle step for unloyal vassals that die' },
  { key: 'emperor-max-throttle', kind: 'number', def: 180000, arg: 'ms', help: 'throttle ceiling' },
  {
    key: 'emperor-required-heartbeat',
    kind: 'number',
    def: 30,
    arg: 'seconds',
    help: 'reload a vassal whose heartbeats stop for this long',
  },
  {
    key: 'emperor-curse-tolerance',
    kind: 'number',
    def: 30,
    arg: 'seconds',
    help: 'mercy: SIGKILL a stopped vassal still alive after this long',
  },
  { key: 'reload-mercy', kind: 'number', def: 30, arg: 'seconds', help: 'Ragnarok: SIGKILL whatever is still alive after this long' },
  {
    key: 'emperor-loyal-after',
    kind: 'number',
    def: 3,
    arg: 'seconds',
    help: 'a vassal that never speaks the protocol is loyal after this much uptime',
  },
  {
    key: 'emperor-config-timeout',
    kind: 'number',
    def: 5,
    arg: 'seconds',
    help: "time to read one vassal's config, every include and command of it (a hung mount), and for each directory scan",
  },
  {
    key: 'emperor-jail-timeout',
    kind: 'number',
    def: 60,
    arg: 'seconds',
    help: 'a native vassal whose jail plan has not started its app after this long is killed and retried',
  },
  {
    key: 'emperor-stats',
    kind: 'string',
    aliases: ['emperor-stats-server'],
    arg: 'addr',
    help: 'serve JSON stats on host:port or a unix socket path',
  },
  {
    key: 'emperor-control',
    kind: 'string',
    arg: 'path',
    help: 'control socket for emperor logs/reload/stop/start/resume/status (a unix socket path)',
  },
  { key: 'emperor-metrics', kind: 'string', arg: 'host:port', help: 'serve Prometheus metrics on http://host:port/metrics' },
  { key: 'emperor-logs-dir', kind: 'string', arg: 'dir', help: "also write each vassal's output to DIR/NAME.log" },
  { key: 'emperor-logs-max-size', kind: 'number', def: 10485760, arg: 'bytes', help: 'rotate a vassal log file past this size' },
  { key: 'emperor-logs-keep', kind: 'number', def: 3, arg: 'count', help: 'rotated files kept per vassal (NAME.log.1 ...)' },
  {
    key: 'emperor-logs-retention',
    kind: 'number',
    def: 604800,
    arg: 'seconds',
    help: 'remove the log files of vassals that are gone once they are this old (7 days)',
  },
  {
    key: 'emperor-log-rate',
    kind: 'number',
    def: 1000,
    arg: 'lines',
    help: 'output lines per second per vassal before lines are dropped (counted and said); 0: no limit',
  },
  {
    key: 'emperor-log-ring',
    kind: 'number',
    def: 1000,
    arg: 'lines',
    help: 'recent output lines kept in memory per vassal, for emperor logs',
  },
  { key: 'emperor-nofollow', kind: 'bool', help: "use a symlink's own mtime (touch --no-dereference reloads one vassal)" },
  { key: 'emperor-use-clone', kind: 'string', arg: 'flags', help: 'namespaces for every vassal: fs,net,ipc,pid,uts,user' },
  { key: 'emperor-graceful-shutdown', kind: 'bool', help: 'stop vassals with byte 2 (graceful) instead of 0' },
  { key: 'emperor-no-blacklist', kind: 'bool', help: 'never throttle vassals that die before they are loyal' },
  {
    key: 'emperor-multi-section',
    kind: 'bool',
    help: 'one vassal per section of each vassal file, named FILE:SECTION ([uwsgi] stays FILE)',
  },
  {
    key: 'emperor-extra-extension',
    kind: 'list',
    aliases: ['emperor-extra-ext'],
    arg: 'ext',
    help: 'more config file extensions (repeatable)',
  },
  { key: 'vassal-set', kind: 'list', aliases: ['vassals-set'], arg: 'key=value', help: 'set an option in every vassal (repeatable)' },
  { key: 'vassals-include', kind: 'list', arg: 'file', help: 'include a file after every vassal config (repeatable)' },
  { key: 'vassals-include-before', kind: 'list', arg: 'file', help: 'include a file before every vassal config (repeatable)' },
  { key: 'vassals-inherit', kind: 'list', arg: 'file', help: 'inherit a file after every vassal config (repeatable)' },
  { key: 'vassals-inherit-before', kind: 'list', arg: 'file', help: 'inherit a file before every vassal config (repeatable)' },
  {
    key: 'emperor-on-demand-extension',
    kind: 'string',
    aliases: ['emperor-on-demand-ext'],
    arg: 'ext',
    help: 'on demand: the socket name is in the file <vassal file>EXT',
  },
  {
    key: 'emperor-on-demand-directory',
    kind: 'string',
    aliases: ['emperor-on-demand-dir'],
    arg: 'dir',
    help: 'on demand: the socket is DIR/<vassal name without extension>.socket',
  },
  { key: 'emperor-on-demand-exec', kind: 'string', arg: 'cmd', help: "on demand: the socket name is the first line of CMD 'vassal name'" },
  { key: 'binary-path', kind: 'string', def: 'uwsgi', arg: 'path', help: 'the uWSGI binary run for uWSGI vassals' },
  { key: 'emperor-tyrant', kind: 'bool', help: "run each vassal as its config file's owner" },
  { key: 'emperor-tyrant-nofollow', kind: 'bool', help: "tyrant: use a symlink's own owner" },
  {
    key: 'emperor-tyrant-inherit-env',
    kind: 'bool',
    help: "tyrant: vassals inherit the emperor's whole environment, as uWSGI's do, instead of a clean one of their owner's",
  },
  {
    key: 'emperor-tyrant-keep-env',
    kind: 'list',
    arg: 'name',
    help: "tyrant: pass this variable of the emperor's environment on to every vassal's clean one (repeatable)",
  },
  {
    key: 'emperor-etcd-pool',
    kind: 'bool',
    help: 'etcd:// monitors: share the vassals with every emperor on the same prefix, each vassal running on exactly one',
  },
  {
    key: 'emperor-node',
    kind: 'string',
    arg: 'name',
    help: "this emperor's name in an etcd pool and in published endpoints (default: the hostname)",
  },
  {
    key: 'emperor-etcd-ttl',
    kind: 'number',
    def: 10,
    arg: 'seconds',
    help: "TTL of the emperor's etcd lease: a dead emperor's vassals run elsewhere within it",
  },
  {
    key: 'emperor-etcd-traefik',
    kind: 'string',
    arg: 'rootkey',
    help: "also publish http endpoints in Traefik's KV layout under this root key (Traefik's default: traefik)",
  },
  {
    key: 'emperor-advertise',
    kind: 'string',
    arg: 'host',
    help: 'the host published for sockets bound to every address (default: the first non-loopback IPv4 address)',
  },
  {
    key: 'emperor-pg-channel',
    kind: 'string',
    arg: 'channel',
    help: 'pg:// monitors LISTEN on this channel: a NOTIFY runs the query at once (polling stays)',
  },
  { key: 'uid', kind: 'string', arg: 'user', help: "the emperor's own uid: it drops to it before any work (with gid and cap)" },
  { key: 'gid', kind: 'string', arg: 'group', help: "the emperor's own gid (default: the uid's primary group)" },
  { key: 'cap', kind: 'string', arg: 'caps', help: 'capabilities the emperor keeps after the drop to uid, e.g. setgid,setuid' },
];

export interface EmperorOptions {
  emperor: string[];
  freqSeconds: number;
  throttleMs: number;
  maxThrottleMs: number;
  requiredHeartbeatSeconds: number;
  curseToleranceSeconds: number;
  reloadMercySeconds: number;
  loyalAfterSeconds: number;
  configTimeoutSeconds: number;
  jailTimeoutSeconds: number;
  stats?: string;
  control?: string;
  metrics?: string;
  logsDir?: string;
  logsMaxBytes: number;
  logsKeep: number;
  logsRetentionSeconds: number;
  logRate: number;
  logRing: number;
  nofollow: boolean;
  useClone?: string;
  gracefulShutdown: boolean;
  noBlacklist: boolean;
  multiSection: boolean;
  extraExtensions: string[];
  vassalSet: string[];
  vassalsInclude: string[];
  vassalsIncludeBefore: string[];
  vassalsInherit: string[];
  vassalsInheritBefore: string[];
  onDemandExtension?: string;
  onDemandDirectory?: string;
  onDemandExec?: string;
  binaryPath: string;
  tyrant: boolean;
  tyrantNofollow: boolean;
  tyrantInheritEnv: boolean;
  tyrantKeepEnv: string[];
  etcdPool: boolean;
  node?: string;
  etcdTtlSeconds: number;
  etcdTraefik?: string;
  advertise?: string;
  pgChannel?: string;
  /** The emperor's own credentials (src/privileges.ts applies them before the emperor starts). */
  uid?: string;
  gid?: string;
  cap?: string;
}

/** Raw values by option key, as collected from a config file and/or the command line. */
export type RawOptions = Map<string, Array<string | boolean>>;

function canonical(key: string): OptionSpec | undefined {
  const k = key.replace(/_/g, '-');
  return OPTION_TABLE.find((o) => o.key === k || o.aliases?.includes(k));
}

/** Collects the emperor options of a resolved config file; other keys (placeholders, uWSGI-only options) are returned apart. */
export function rawFromConfig(options: ConfigOption[], isTrue: (v: string) => boolean): { raw: RawOptions; ignored: ConfigOption[] } {
  const raw: RawOptions = new Map();
  const ignored: ConfigOption[] = [];
  for (const o of options) {
    const spec = canonical(o.key);
    if (!spec) {
      ignored.push(o);
      continue;
    }
    const list = raw.get(spec.key) ?? [];
    list.push(spec.kind === 'bool' ? o.value === '' || isTrue(o.value) : o.value);
    raw.set(spec.key, list);
  }
  return { raw, ignored };
}

/** Later sources win for scalars; lists concatenate (config file first, then the command line). */
export function mergeRaw(...sources: RawOptions[]): RawOptions {
  const out: RawOptions = new Map();
  for (const src of sources) {
    for (const [k, v] of src) {
      const spec = canonical(k)!;
      out.set(k, spec.kind === 'list' ? [...(out.get(k) ?? []), ...v] : v);
    }
  }
  return out;
}

export class OptionError extends Error {}

export function finalizeOptions(raw: RawOptions): EmperorOptions {
  const last = (k: string) => raw.get(k)?.at(-1);
  const list = (k: string) => (raw.get(k) ?? []).map(String);
  const num = (k: string) => {
    const spec = canonical(k)!;
    const v = last(k);
    if (v === undefined) return spec.def as number;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new OptionError(`option --${k}: "${String(v)}" is not a non-negative number`);
    return n;
  };
  const positive = (k: string) => {
    const n = num(k);
    if (n === 0) throw new OptionError(`option --${k}: must be more than 0 seconds`);
    return n;
  };
  const bool = (k: string) => last(k) === true;
  const str = (k: string) => {
    const v = last(k);
    return v === undefined || v === true ? (canonical(k)!.def as string | undefined) : String(v);
  };
  return {
    emperor: list('emperor'),
    freqSeconds: num('emperor-freq'),
    throttleMs: num('emperor-throttle'),
    maxThrottleMs: num('emperor-max-throttle'),
    requiredHeartbeatSeconds: num('emperor-required-heartbeat'),
    curseToleranceSeconds: num('emperor-curse-tolerance'),
    reloadMercySeconds: num('reload-mercy'),
    loyalAfterSeconds: num('emperor-loyal-after'),
    configTimeoutSeconds: positive('emperor-config-timeout'),
    jailTimeoutSeconds: positive('emperor-jail-timeout'),
    stats: str('emperor-stats'),
    control: str('emperor-control'),
    metrics: str('emperor-metrics'),
    logsDir: str('emperor-logs-dir'),
    logsMaxBytes: num('emperor-logs-max-size'),
    logsKeep: num('emperor-logs-keep'),
    logsRetentionSeconds: positive('emperor-logs-retention'),
    logRate: num('emperor-log-rate'),
    logRing: num('emperor-log-ring'),
    nofollow: bool('emperor-nofollow'),
    useClone: str('emperor-use-clone'),
    gracefulShutdown: bool('emperor-graceful-shutdown'),
    noBlacklist: bool('emperor-no-blacklist'),
    multiSection: bool('emperor-multi-section'),
    extraExtensions: list('emperor-extra-extension'),
    vassalSet: list('vassal-set'),
    vassalsInclude: list('vassals-include'),
    vassalsIncludeBefore: list('vassals-include-before'),
    vassalsInherit: list('vassals-inherit'),
    vassalsInheritBefore: list('vassals-inherit-before'),
    onDemandExtension: str('emperor-on-demand-extension'),
    onDemandDirectory: str('emperor-on-demand-directory'),
    onDemandExec: str('emperor-on-demand-exec'),
    binaryPath: str('binary-path')!,
    tyrant: bool('emperor-tyrant'),
    tyrantNofollow: bool('emperor-tyrant-nofollow'),
    tyrantInheritEnv: bool('emperor-tyrant-inherit-env'),
    tyrantKeepEnv: list('emperor-tyrant-keep-env'),
    etcdPool: bool('emperor-etcd-pool'),
    node: str('emperor-node'),
    etcdTtlSeconds: positive('emperor-etcd-ttl'),
    etcdTraefik: str('emperor-etcd-traefik'),
    advertise: str('emperor-advertise'),
    pgChannel: str('emperor-pg-channel'),
    uid: str('uid'),
    gid: str('gid'),
    cap: str('cap'),
  };
}

/** emperor-use-clone's uWSGI words as the namespaces spawn() creates. */
export function parseCloneFlags(words: string | undefined): Namespace[] {
  if (!words) return [];
  const out = new Set<Namespace>();
  for (const w of words.split(/[,\s]+/).filter(Boolean)) {
    const ns = namespaceOf(w);
    if (!ns) throw new OptionError(`emperor-use-clone: unknown namespace "${w}" (known: ${NAMESPACE_WORDS.join(', ')})`);
    out.add(ns);
  }
  return [...out];
}
