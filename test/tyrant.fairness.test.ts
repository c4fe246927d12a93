// Config reads are shared fairly between owners (README, "Untrusted input"): alice's files that each take a whole
// read budget (an @(exec://sleep)) fill both config readers and keep coming back, yet bob's and carol's new vassals
// start within about one budget, the time a reader needs to finish the one read it is working on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmperorProcess } from './helpers/emperor-process';
import { createUser, tenantDirs, vassalFile } from './helpers/users';

const BUDGET_S = 3;
/** Beyond the one budget: the monitor seeing the file, the reader's own work, the spawn, a loaded machine. */
const SLACK_MS = 4000;
const SLEEPER = ['unprivileged-binary-patch-arg = exec sleep 3600'];

test("one owner's slow files delay another owner's vassal by one read budget at most, whatever their number", async (t) => {
  const [alice, bob, carol] = [createUser(t), createUser(t), createUser(t)];
  const { vassals } = tenantDirs(t, 'fairness');
  // 40 reads of a budget each: 16 in each of the two readers' pipelines, and more waiting
  for (let i = 0; i < 40; i++) vassalFile(vassals, `slow${i}.ini`, alice, ['env = X=@(exec://sleep 30)', ...SLEEPER]);
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-config-timeout', String(BUDGET_S)]);
  t.after(() => emperor.kill());
  // both readers have worked through a budget of alice's: their pipelines are full of hers
  await emperor.waitEvent('config-timeout', undefined, 2, 30000);

  const started = Date.now();
  vassalFile(vassals, 'bob.ini', bob, SLEEPER);
  vassalFile(vassals, 'carol.ini', carol, SLEEPER);
  const bound = BUDGET_S * 1000 + SLACK_MS;
  await emperor.waitEvent('spawned', 'bob.ini', 1, bound);
  await emperor.waitEvent('spawned', 'carol.ini', 1, Math.max(1, bound - (Date.now() - started)));

  // alice's files are still read, in their turn, and still time out on their own
  const before = emperor.events('config-timeout').length;
  await emperor.waitLog((l) => l.filter((e) => e.event === 'config-timeout').length > before, "alice's reads going on", 30000);
  assert.ok(
    emperor.events('config-timeout').every((e) => String(e.vassal).startsWith('slow')),
    'only the slow files time out',
  );
});
