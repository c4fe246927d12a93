// `emperor status` table: our emperor's blob (extra fields) and a uWSGI-only blob (derived state and uptime).
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../src/check';
import { formatBytes, formatDuration, formatStatusTable } from '../src/ops';
import { statsDocument } from '../src/ops/stats-document';

const NOW = 1_795_300_000_000;
const S = NOW / 1000;

/** The table of a document as a client gets it: checked first. */
const table = (blob: unknown): string => formatStatusTable(parse(statsDocument, blob, 'stats'), NOW);

function vassal(id: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    id,
    pid: -1,
    born: S - 100,
    last_mod: S - 100,
    last_heartbeat: 0,
    loyal: 0,
    ready: 0,
    accepting: 0,
    last_loyal: 0,
    last_ready: 0,
    last_accepting: 0,
    first_run: S - 100,
    last_run: S - 100,
    cursed: 0,
    zerg: 0,
    on_demand: '',
    uid: 0,
    gid: 0,
    monitor: '/etc/uwsgi/vassals',
    respawns: 0,
    ...extra,
  };
}

test('durations keep the two most significant units', () => {
  assert.deepEqual([0, 59, 60, 245, 3599, 3600, 11_220, 86_399, 86_400, 190_800].map(formatDuration), [
    '0s',
    '59s',
    '1m00s',
    '4m05s',
    '59m59s',
    '1h00m',
    '3h07m',
    '23h59m',
    '1d00h',
    '2d05h',
  ]);
});

test('memory in pm2 units', () => {
  assert.deepEqual([0, 512, 1024, 42_188, 24_641_536, 1_288_490_189].map(formatBytes), [
    '0b',
    '512b',
    '1.0kb',
    '41.2kb',
    '23.5mb',
    '1.2gb',
  ]);
});

test('our emperor: state, uptime, respawns, cpu, memory, loyalty, throttle, last exit or setup error', () => {
  const blob = {
    version: '0.1.0',
    pid: 4242,
    uid: 0,
    gid: 0,
    cwd: '/',
    emperor: ['/etc/uwsgi/vassals'],
    emperor_tyrant: 0,
    throttle_level: 0,
    vassals: [
      vassal('web.ini', {
        pid: 5001,
        loyal: 1,
        respawns: 2,
        state: 'running',
        uptime: 3725,
        last_exit: 'killed by SIGKILL',
        cpu: 1.5,
        memory: 24_641_536,
      }),
      vassal('crash.ini', { state: 'throttled', respawns: 5, last_exit: 'exit 1', uptime: 0 }),
      vassal('broken.yaml', {
        state: 'broken',
        setup_error: '/etc/uwsgi/vassals/broken.yaml:3: chdir: No such file or directory',
        last_exit: '',
      }),
    ],
    blacklist: [{ id: 'crash.ini', throttle_level: 4001, attempt: 4, first_attempt: S - 60, last_attempt: S - 2 }],
    emperor_impl: 'emperor',
  };
  assert.equal(
    table(blob),
    [
      'emperor pid 4242, monitors: /etc/uwsgi/vassals; 3 vassals, 1 blacklisted',
      'NAME         STATE      PID   UPTIME  RESPAWNS  CPU   MEM     LOYAL  THROTTLE   LAST EXIT / SETUP ERROR',
      'broken.yaml  broken     -     -       0         -     -       no     -          setup error: /etc/uwsgi/vassals/broken.yaml:3: chdir: No such file or directory',
      'crash.ini    throttled  -     -       5         -     -       no     4001ms #4  exit 1',
      'web.ini      running    5001  1h02m   2         1.5%  23.5mb  yes    -          killed by SIGKILL',
      '',
    ].join('\n'),
  );
});

test('a uWSGI emperor: state and uptime derived from its own fields, blacklist-only vassals listed', () => {
  const blob = {
    version: '2.0.21-debian',
    pid: 77,
    uid: 0,
    gid: 0,
    cwd: '/',
    emperor: ['/srv/v'],
    emperor_tyrant: 0,
    throttle_level: 0,
    vassals: [vassal('a.ini', { pid: 900, last_run: S - 75 }), vassal('dying.ini', { pid: 901, cursed: S - 1 })],
    blacklist: [{ id: 'gone.ini', throttle_level: 1, attempt: 0, first_attempt: S, last_attempt: S }],
  };
  const lines = table(blob).split('\n');
  assert.equal(lines[0], 'uWSGI 2.0.21-debian pid 77, monitors: /srv/v; 3 vassals, 1 blacklisted');
  assert.match(lines[2], /^a\.ini +running +900 +1m15s +0 +- +- +no +- +-$/);
  assert.match(lines[3], /^dying\.ini +stopping +901 /);
  assert.match(lines[4], /^gone\.ini +throttled +- +- +0 +- +- +no +1ms #0 +-$/);
});

test('something that is not a stats document is refused', () => {
  assert.throws(() => table({ hello: 1 }), /stats\.version: expected a string/);
  assert.throws(() => table(null), /stats: expected an object, got null/);
});

test('pool mode: the node in the head, and the owner of every vassal of the pool, here or elsewhere', () => {
  const blob = {
    version: '0.1.0',
    pid: 7,
    uid: 0,
    gid: 0,
    cwd: '/',
    emperor: ['etcd://127.0.0.1:2379/vassals/'],
    emperor_tyrant: 0,
    throttle_level: 0,
    emperor_impl: 'emperor',
    node: 'web1',
    blacklist: [],
    vassals: [vassal('a.ini', { pid: 10, state: 'running', uptime: 5, owner: 'web1' })],
    pool: [
      { monitor: 'etcd://127.0.0.1:2379/vassals/', vassal: 'a.ini', owner: 'web1' },
      { monitor: 'etcd://127.0.0.1:2379/vassals/', vassal: 'b.ini', owner: 'web2' },
    ],
  };
  assert.equal(
    table(blob),
    [
      'emperor node web1 pid 7, monitors: etcd://127.0.0.1:2379/vassals/; 1 vassal, 0 blacklisted',
      'NAME   STATE      PID  UPTIME  RESPAWNS  CPU  MEM  LOYAL  THROTTLE  OWNER  LAST EXIT / SETUP ERROR',
      'a.ini  running    10   5s      0         -    -    no     -         web1   -',
      'b.ini  elsewhere  -    -       -         -    -    -      -         web2   -',
      '',
    ].join('\n'),
  );
});
