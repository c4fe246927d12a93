// How an agent ends (docs/ARCHITECTURE.md, Processes): it exits when its channel closes, an @(exec://) in progress
// included, whose process group it kills; in a cgroup of its own, what its command left in another session dies with
// it, and a kill goes through that cgroup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as calls from '../src/agent/calls';
import { AgentProcess } from '../src/agent/process';
import { HelperCgroups } from '../src/cgroup/helpers';
import { findCgroup2Mount, ownCgroupPath, removeDirs } from '../src/cgroup/tree';
import * as native from '../src/native';
import { openTmpdir } from './helpers/agents';
import { waitGone } from './helpers/native-proc';
import { until, within } from './helpers/wait';

/** Pids of the live processes whose command line is exactly these words. */
function running(...words: string[]): number[] {
  const want = `${words.join('\0')}\0`;
  return fs.readdirSync('/proc').flatMap((d) => {
    if (!/^\d+$/.test(d)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      return !/\) Z /.test(stat) && fs.readFileSync(`/proc/${d}/cmdline`, 'latin1') === want ? [Number(d)] : [];
    } catch {
      return [];
    }
  });
}

/** Sends one EXEC request (not waiting for its answer). */
function ask(agent: AgentProcess, command: string, cwd: string): void {
  fs.writeSync(agent.fd, calls.execCall(command, cwd, 1000, 60000, 60000).frame);
}

test('an agent whose channel closes during an @(exec://) kills the command with its group and exits at once', async (t) => {
  const dir = openTmpdir(t, 'agent-end');
  const seconds = `${600 + Math.floor(Math.random() * 300)}`;
  const agent = AgentProcess.start(null, { PATH: '/usr/bin:/bin' });
  t.after(() => agent.kill());
  agent.ref();
  ask(agent, `sleep ${seconds} & sleep ${seconds}; true`, dir);
  await until(() => running('sleep', seconds).length === 2, 'the command and its background job running');
  const [a, b] = running('sleep', seconds);
  native.closeFd(agent.fd);
  await within(agent.exited, 3000, 'the agent to exit on its channel closing, long before the command would end');
  assert.ok((await waitGone(a, 2000)) && (await waitGone(b, 2000)), 'the command and its background job are gone');
});

test("in a cgroup of its own, what an agent's command left in another session dies with the agent; kill() ends one its closed channel does not", async (t) => {
  const mount = findCgroup2Mount();
  const own = ownCgroupPath();
  assert.ok(mount && own !== undefined, 'a cgroup v2 hierarchy (these hosts have one)');
  const base = path.join(mount, own, `emperor-test-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(base);
  t.after(() => {
    removeDirs(base);
  });
  const cgroups = new HelperCgroups(base);
  const dir = openTmpdir(t, 'agent-end-cgroup');
  const seconds = `${600 + Math.floor(Math.random() * 300)}`;

  const agent = AgentProcess.start(null, { PATH: '/usr/bin:/bin' }, cgroups);
  agent.ref();
  t.after(() => agent.kill());
  const cgroup = path.join(base, 'agent.1');
  const inCgroup = (dirPath: string, pid: number) =>
    fs.readFileSync(path.join(dirPath, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid));
  assert.ok(inCgroup(cgroup, agent.pid), 'the agent runs in its cgroup');
  // the daemon leaves the command's process group, which the agent kills when the command ends; it waits until it has
  ask(
    agent,
    `setsid sleep ${seconds} >/dev/null 2>&1 </dev/null & p=$!; while [ "$(cut -d' ' -f6 /proc/$p/stat)" != "$p" ]; do sleep 0.05; done`,
    dir,
  );
  await until(() => running('sleep', seconds).length === 1, 'the daemon running');
  const [daemon] = running('sleep', seconds);
  assert.ok(inCgroup(cgroup, daemon), "the daemon is in the agent's cgroup");
  native.closeFd(agent.fd);
  await within(agent.exited, 3000, 'the agent to exit on its channel closing');
  assert.ok(await waitGone(daemon, 3000), 'the daemon died with its agent');
  await until(() => !fs.existsSync(cgroup), 'its cgroup directory removed', 5000);

  // one that a closed channel cannot end (stopped here) is killed through its cgroup
  const stopped = AgentProcess.start(null, { PATH: '/usr/bin:/bin' }, cgroups);
  stopped.ref();
  t.after(() => stopped.kill());
  process.kill(stopped.pid, 'SIGSTOP');
  native.closeFd(stopped.fd);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(fs.existsSync(`/proc/${stopped.pid}`), 'a stopped agent does not exit on its own');
  stopped.kill();
  await within(stopped.exited, 3000, 'the stopped agent killed through its cgroup');
});
