// The pool behind AgentHost: one live agent per identity, shared by the hosts of that identity; the least recently
// used closed beyond the cap; idle ones closed after idleMs; close() final.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentPids, expectHostError, testPool } from './helpers/agents';
import { procStat } from './helpers/native-proc';
import { procIdentity } from './helpers/users';

function liveAgents(): Map<number, number> {
  const out = new Map<number, number>(); // uid -> pid
  for (const pid of agentPids()) {
    if (procStat(pid)?.state === 'Z') continue;
    try {
      out.set(procIdentity(pid).uid[0], pid);
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

async function until(what: string, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Any uid works for reading a world-readable file: the kernel needs no passwd entry.
const who = (uid: number) => ({ uid, gid: uid, groups: [uid] });

test('one agent per identity, shared by its hosts; the least recently used is closed beyond maxAgents', async (t) => {
  const pool = testPool(t, { maxAgents: 2 });
  pool.host(who(61001), 2000).readFile('/etc/hostname', 100);
  const first = liveAgents().get(61001);
  pool.host(who(61001), 2000).stat('/etc/hostname', true);
  assert.equal(liveAgents().get(61001), first, 'the second host used the same agent');
  pool.host(who(61002), 2000).readFile('/etc/hostname', 100);
  pool.host(who(61001), 2000).readFile('/etc/hostname', 100); // 61002 is now the least recently used
  pool.host(who(61003), 2000).readFile('/etc/hostname', 100);
  await until('61002 closed', () => !liveAgents().has(61002));
  assert.deepEqual([...liveAgents().keys()].sort(), [61001, 61003]);
  assert.equal(liveAgents().get(61001), first);
});

test('agents unused for idleMs are closed; close() ends the pool', async (t) => {
  const pool = testPool(t, { idleMs: 200 });
  pool.host(who(61011), 2000).readFile('/etc/hostname', 100);
  pool.host(null, 2000).readFile('/etc/hostname', 100);
  assert.equal(liveAgents().size, 2);
  await until('idle agents closed', () => liveAgents().size === 0);
  pool.host(null, 2000).readFile('/etc/hostname', 100);
  await pool.close();
  await until('closed', () => liveAgents().size === 0);
  await expectHostError(
    () => pool.host(null, 2000).readFile('/etc/hostname', 100),
    'EAGENT',
    /^reading \/etc\/hostname: the agent pool is closed$/,
  );
});
