// The agent processes a test started (children of this process named emperor-agent), so that a test can look at
// them, kill one, and prove that every one of them is gone at its end.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { AgentPool, type AgentPoolOptions } from '../../src/agent/host';
import type { HostError } from '../../src/host-fs';
import { mountHungFs, type TestMount } from './hungfs';
import { procStat, waitGone } from './native-proc';

export function agentPids(): number[] {
  let kids: number[];
  try {
    kids = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return kids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'emperor-agent';
    } catch {
      return false;
    }
  });
}

/** Waits until none of this process's agents runs any more, and none is left unreaped. */
export async function assertAgentsGone(timeoutMs = 5000): Promise<void> {
  for (const pid of agentPids()) {
    if (!(await waitGone(pid, timeoutMs))) throw new Error(`agent ${pid} still runs`);
  }
  const deadline = Date.now() + timeoutMs;
  while (agentPids().some((pid) => procStat(pid) !== null)) {
    if (Date.now() > deadline) throw new Error(`agents not reaped: ${agentPids().join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A pool closed after the test, with every agent of it proven gone. */
export function testPool(t: TestContext, opts: Partial<AgentPoolOptions> = {}): AgentPool {
  const pool = new AgentPool({ env: { PATH: '/usr/bin:/bin' }, ...opts });
  t.after(async () => {
    await pool.close();
    await assertAgentsGone();
  });
  return pool;
}

/**
 * A hung FUSE mount in a directory of its own that every user may search (so a tenant's agent reaches it and
 * hangs), released after the test. Never put one inside a directory that a cleanup removes recursively before the
 * release: that cleanup would walk into the mount and hang the test process itself.
 */
export async function hungMount(t: TestContext): Promise<TestMount> {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-hung-'));
  fs.chmodSync(parent, 0o755);
  const mount = await mountHungFs(parent);
  t.after(async () => {
    await mount.release();
    fs.rmdirSync(parent);
  });
  return mount;
}

/** A directory every user may search, removed after the test. */
export function openTmpdir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `emperor-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function expectHostError(fn: () => unknown, code: string, message?: RegExp): Promise<HostError> {
  try {
    await fn();
  } catch (e) {
    const err = e as HostError;
    if (err.name !== 'HostError' || err.code !== code || (message && !message.test(err.message))) {
      throw new Error(`expected HostError ${code}${message ? ` matching ${message}` : ''}, got ${err.name} ${err.code}: ${err.message}`);
    }
    return err;
  }
  throw new Error(`expected HostError ${code}, got no error`);
}
