// Pool mode with capability-limited emperors (uid 10000, CAP_SETUID and CAP_SETGID only) on a real etcd: each
// vassal runs on exactly one of them; one buried (SIGTERM) gives its vassals up with its lease and the other takes
// them; nothing of the buried one is left, and neither log names an EPERM. "Exactly once" is counted in /proc, from
// each emperor's tagged processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpdir, type EmperorProcess } from './helpers/emperor-process';
import { EtcdServer } from './helpers/etcd';
import { epermLines, paranoidEmperor } from './helpers/paranoid';
import { until } from './helpers/wait';

const PREFIX = '/paranoid-pool/';
const VASSALS = 6;

/** The vassal numbers of the programs each emperor runs now, read from their environments. */
function runningOn(emperors: EmperorProcess[], run: string): number[][] {
  const marker = new RegExp(`\\0POOL_VASSAL=${run}-(\\d+)\\0`);
  return emperors.map((e) =>
    e.vassalPids().flatMap((pid) => {
      try {
        const m = marker.exec(`\0${fs.readFileSync(`/proc/${pid}/environ`, 'latin1')}`);
        return m && fs.readFileSync(`/proc/${pid}/comm`, 'utf8') === 'sleep\n' ? [Number(m[1])] : [];
      } catch {
        return []; // exited meanwhile
      }
    }),
  );
}

test('paranoid emperors in an etcd pool: each vassal once; the buried one hands its vassals over and leaves nothing', async (t) => {
  const etcd = await EtcdServer.start();
  const client = etcd.client();
  t.after(async () => {
    client.close();
    await etcd.destroy();
  });
  const run = randomUUID().slice(0, 8);
  for (let i = 0; i < VASSALS; i++) {
    await client
      .put(`${PREFIX}v${i}.ini`)
      .value(`[uwsgi]\nenv = POOL_VASSAL=${run}-${i}\nunprivileged-binary-patch-arg = exec sleep 600\n`);
  }
  const base = tmpdir('paranoid-pool');
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  const emperors = [0, 1].map((i) => {
    const dir = path.join(base, `n${i}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    return paranoidEmperor(t, dir, [
      '--emperor',
      `etcd://${etcd.endpoint}${PREFIX}`,
      '--emperor-etcd-pool',
      '--emperor-node',
      `p${i}`,
      '--emperor-etcd-ttl',
      '4',
      // without CAP_SYS_ADMIN a native vassal's namespaces come inside a user namespace of its own
      '--emperor-use-clone',
      'user',
    ]);
  });
  const settled = (what: string, want: (byEmperor: number[]) => boolean) =>
    until(
      () => {
        const on = runningOn(emperors, run);
        const all = on.flat().sort((a, b) => a - b);
        const once = all.length === VASSALS && all.every((n, i) => n === i);
        return once && want(on.map((l) => l.length)) ? on.map((l) => l.length) : undefined;
      },
      what,
      30000,
    );

  const spread = await settled('every vassal running exactly once, on both emperors', (b) => b.every((n) => n > 0));
  assert.equal(spread[0] + spread[1], VASSALS);

  process.kill(emperors[0].pid, 'SIGTERM');
  await emperors[0].waitEvent('buried');
  assert.equal((await emperors[0].waitExit()).code, 0);
  assert.deepEqual(emperors[0].taggedPids(), [], 'nothing of the buried emperor is left');
  await settled('every vassal running exactly once, all on the emperor left', (b) => b[1] === VASSALS);
  for (const e of emperors) assert.deepEqual(epermLines(e), [], 'no EPERM anywhere in the log');
});
