// Two real tenants, alice and bob, each with a native vassal in one vassal directory, under a tyrant emperor with
// a stats server and a control socket: the stage of the attacks a tenant makes on the emperor.
import type { TestContext } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../../src/ops';
import { EmperorProcess, tmpdir } from './emperor-process';
import { createUser, vassalFile, type TestUser } from './users';

export const SLEEPER = 'unprivileged-binary-patch-arg = exec sleep 1000';

export interface Tenants {
  alice: TestUser;
  bob: TestUser;
  vassals: string;
  control: string;
  stats: string;
  emperor: EmperorProcess;
  /** bob.ini's pid once both vassals run. */
  bobPid: number;
}

/** `bob` is bob.ini's command line (a sleeper by default); `extra` more emperor options; `wrap` as EmperorProcess's. */
export async function tenants(t: TestContext, o: { bob?: string; extra?: string[]; wrap?: string[] } = {}): Promise<Tenants> {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = tmpdir('tenants');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  vassalFile(vassals, 'alice.ini', alice, [SLEEPER]);
  vassalFile(vassals, 'bob.ini', bob, [o.bob ?? SLEEPER]);
  const control = path.join(dir, 'control.sock');
  const stats = path.join(dir, 'stats.sock');
  const args = ['--emperor', vassals, '--emperor-tyrant', '--emperor-control', control, '--emperor-stats', stats, ...(o.extra ?? [])];
  const emperor = new EmperorProcess(args, { wrap: o.wrap });
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'bob.ini');
  await emperor.waitEvent('app-started', 'alice.ini');
  const bobPid = (await fetchStats(stats)).vassals.find((v) => v.id === 'bob.ini')!.pid;
  return { alice, bob, vassals, control, stats, emperor, bobPid };
}
