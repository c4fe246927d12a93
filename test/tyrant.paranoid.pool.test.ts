// Pool mode with capability-limited emperors (uid 10000, CAP_SETUID and CAP_SETGID only) on a real etcd: each
// vassal runs on exactly one of them; one buried (SIGTERM) gives its vassals up with its lease and the other takes
// them; nothing of the buried one is left, and neither log names an EPERM. "Exactly once" is counted in /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpdir } from './helpers/emperor-process';
import { EtcdServer } from './helpers/etcd';
import { epermLines, paranoidEmperor } from './helpers/paranoid';
import { until } from './helpers/wait';

const PREFIX = '/paranoid-pool/';
const VASSALS = 6;

/** Per vassal, how many live programs carry its marker; and how many of them each emperor (by its tag) runs. */
function census(run: string, tags: string[]): { count: number[]; byEmperor: number[] } {
  const count = new Array<number>(VASSALS).fill(0);
  const byEmperor = tags.map(() => 0);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').startsWith('sleep\0')) continue;
      const env = fs.readFileSync(`/proc/${d}/environ`, 'latin1');
      const m = new RegExp(`POOL_VASSAL=${run}-(\\d+)\\0`).exec(env);
      if (!m || /\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) continue;
      count[Number(m[1])]++;
      const i = tags.indexOf(/EMPEROR_TEST_TAG=([^\0]+)/.exec(env)?.[1] ?? '');
      if (i >= 0) byEmperor[i]++;
    } catch {
      /* exited meanwhile */
    }
  }
  return { count, byEmperor };
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
  const tags = emperors.map((e) => e.tag);
  const settled = (what: string, want: (byEmperor: number[]) => boolean) =>
    until(
      () => {
        const { count, byEmperor } = census(run, tags);
        return count.every((n) => n === 1) && want(byEmperor) ? byEmperor : undefined;
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
