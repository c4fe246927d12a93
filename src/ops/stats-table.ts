// `emperor status`: the stats document as a table, one row per vassal. Reads uWSGI's fields, so it also works
// against a real uWSGI emperor, and our extra ones (state, uptime, cpu, memory, last_exit, setup_error) when they
// are there. Every cell is escaped (printableText): a vassal file named with an escape sequence and a newline shows
// as what it is, and can neither clear the admin's screen nor forge a row.
import { printableText } from '../printable';
import type { BlacklistStats, StatsDocument, VassalStats } from './stats-document';

const COLUMNS = ['NAME', 'STATE', 'PID', 'UPTIME', 'RESPAWNS', 'CPU', 'MEM', 'LOYAL', 'THROTTLE', 'LAST EXIT / SETUP ERROR'];

/** 59s, 4m05s, 3h07m, 2d05h: the two most significant units. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/** pm2's units: 512b, 41.2kb, 23.5mb, 1.2gb. */
export function formatBytes(bytes: number): string {
  const units = ['b', 'kb', 'mb', 'gb', 'tb'];
  let n = Math.max(0, bytes);
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)}${units[i]}`;
}

/** A row of a vassal the document only lists in its blacklist (uWSGI forgets a vassal that died unloyal). */
type Row = Pick<VassalStats, 'id' | 'pid'> & Partial<VassalStats>;

function row(v: Row, bl: BlacklistStats | undefined, nowS: number): string[] {
  const live = v.pid > 0;
  const state = v.state || (live ? (v.cursed ? 'stopping' : 'running') : 'stopped');
  const uptime =
    v.uptime !== undefined ? (live ? formatDuration(v.uptime) : '-') : live && v.last_run ? formatDuration(nowS - v.last_run) : '-';
  const throttle = bl ? `${bl.throttle_level}ms #${bl.attempt}` : '-';
  const last = v.setup_error ? `setup error: ${v.setup_error}` : v.last_exit || '-';
  // cpu and memory are ours (a uWSGI emperor's stats have neither)
  const cpu = live && v.cpu !== undefined ? `${v.cpu}%` : '-';
  const mem = live && v.memory !== undefined ? formatBytes(v.memory) : '-';
  return [v.id, state, live ? String(v.pid) : '-', uptime, String(v.respawns ?? 0), cpu, mem, v.loyal ? 'yes' : 'no', throttle, last];
}

/** The table for a stats document (from fetchStats); `nowMs` only for deterministic output in tests. */
export function formatStatusTable(blob: StatsDocument, nowMs: number = Date.now()): string {
  const nowS = nowMs / 1000;
  const blacklist = new Map(blob.blacklist.map((b) => [b.id, b]));
  const rows = blob.vassals.map((v) => row(v, blacklist.get(v.id), nowS));
  // uWSGI deletes a vassal that died unloyal and keeps only its blacklist entry: show those too
  const listed = new Set(rows.map((r) => r[0]));
  for (const [id, b] of blacklist) if (!listed.has(id)) rows.push(row({ id, pid: -1, state: 'throttled' }, b, nowS));
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const impl = blob.emperor_impl === 'emperor' ? 'emperor' : `uWSGI ${blob.version}`;
  const monitors = blob.emperor.join(', ');
  const node = blob.node ? ` node ${blob.node}` : '';
  const head = `${impl}${node} pid ${blob.pid}, monitors: ${monitors || '-'}; ${rows.length} vassal${rows.length === 1 ? '' : 's'}, ${blacklist.size} blacklisted`;
  // pool mode: who runs each vassal of the pool, here or on another node
  const pool = blob.pool ?? [];
  if (pool.length) return table(head, withOwner(COLUMNS, 'OWNER'), withOwners(rows, pool));
  return table(head, COLUMNS, rows);
}

function withOwners(rows: string[][], pool: NonNullable<StatsDocument['pool']>): string[][] {
  const here = new Map(rows.map((r) => [r[0], r]));
  const elsewhere = (name: string): string[] => [name, 'elsewhere', ...COLUMNS.slice(2).map(() => '-')];
  const out = pool.map((p) => withOwner(here.get(p.vassal) ?? elsewhere(p.vassal), p.owner || '-'));
  const inPool = new Set(pool.map((p) => p.vassal));
  for (const r of rows) if (!inPool.has(r[0])) out.push(withOwner(r, '-'));
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The owner goes before the last, unpadded column. */
function withOwner(cells: string[], owner: string): string[] {
  return [...cells.slice(0, -1), owner, cells[cells.length - 1]];
}

function table(rawHead: string, columns: string[], rawRows: string[][]): string {
  const head = printableText(rawHead);
  const rows = rawRows.map((r) => r.map(printableText));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [head, line(columns), ...rows.map(line)].join('\n') + '\n';
}
