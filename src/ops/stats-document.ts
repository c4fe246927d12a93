// The stats document (--emperor-stats, `emperor status`, the control socket's status): uWSGI's emperor layout, same
// keys in the same order, then ours. One type for the emperor that writes it and every reader; a reader checks what
// it got (statsDocument), and since it may be talking to a real uWSGI emperor, our own keys are optional there.
import { array, integer, number, object, optional, string, type Check, type ObjectOf } from '../check';

const count = integer(0);
const secs = integer(0);
const text = string({ max: 1 << 20 });
const id = integer(-1);

/** One vassal: uWSGI's per-instance fields (docs/UWSGI.md §6), then ours. */
const vassalShape = {
  id: string({ max: 4096 }),
  pid: id,
  born: secs,
  last_mod: secs,
  last_heartbeat: secs,
  loyal: integer(0, 1),
  ready: integer(0, 1),
  accepting: integer(0, 1),
  last_loyal: secs,
  last_ready: secs,
  last_accepting: secs,
  first_run: secs,
  last_run: secs,
  cursed: secs,
  zerg: count,
  on_demand: text,
  uid: count,
  gid: count,
  monitor: text,
  respawns: count,
  // ours
  state: optional(string({ max: 32 })),
  native: optional(integer(0, 1)),
  deaths: optional(count),
  uptime: optional(secs),
  last_exit: optional(text),
  setup_error: optional(text),
  owner: optional(text),
  /** Percent of one CPU over the last sample. */
  cpu: optional(number(0)),
  memory: optional(count),
};

const blacklistShape = {
  id: string({ max: 4096 }),
  throttle_level: count,
  attempt: count,
  first_attempt: secs,
  last_attempt: secs,
};

const documentShape = {
  version: text,
  pid: count,
  uid: count,
  gid: count,
  cwd: text,
  emperor: array(text),
  emperor_tyrant: integer(0, 1),
  throttle_level: count,
  vassals: array(object(vassalShape, { extra: 'ignore' })),
  blacklist: array(object(blacklistShape, { extra: 'ignore' })),
  // ours
  emperor_impl: optional(text),
  ragnarok: optional(integer(0, 1)),
  monitor_errors: optional(array(object({ monitor: text, path: text, error: text }, { extra: 'ignore' }))),
  node: optional(text),
  pool: optional(array(object({ monitor: text, vassal: text, owner: text }, { extra: 'ignore' }))),
};

export type VassalStats = ObjectOf<typeof vassalShape>;
export type BlacklistStats = ObjectOf<typeof blacklistShape>;
export type StatsDocument = ObjectOf<typeof documentShape>;

/** A stats document as a client reads it: ours, or a uWSGI emperor's (keys it does not know are left out). */
export const statsDocument: Check<StatsDocument> = object(documentShape, { extra: 'ignore' });
