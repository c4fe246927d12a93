// AgentSession: an agent driven on the event loop, as the emperor uses it for on-demand sockets. BIND hands a
// listening socket over (SCM_RIGHTS), replaces a stale socket file but nothing else; UNLINK_SOCKET removes only the
// socket BIND made; a call that hangs (a FUSE mount that never answers) fails at its budget while the loop ticks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as calls from '../src/agent/calls';
import { AgentSession } from '../src/agent/session';
import * as native from '../src/native';
import { assertAgentsGone, expectHostError, hungMount, openTmpdir } from './helpers/agents';

function session(t: { after(fn: () => unknown): void }, budgetMs = 2000): AgentSession {
  const s = AgentSession.start(null, { PATH: '/usr/bin:/bin' }, budgetMs);
  t.after(async () => {
    s.close();
    await assertAgentsGone();
  });
  return s;
}

function connects(to: net.NetConnectOpts): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(to, () => {
      c.destroy();
      resolve();
    });
    c.on('error', reject);
  });
}

test('BIND: a listening unix socket with the mode asked, handed over; a stale socket file is replaced, any other file is not', async (t) => {
  const dir = openTmpdir(t, 'session-bind');
  const s = session(t);
  const sock = path.join(dir, 'app.sock');
  const first = await s.askFd(calls.bindCall({ family: 'unix', path: sock }, 0o660, 10));
  native.closeFd(first.fd); // its file stays: a stale socket, as a crashed emperor leaves it
  const again = await s.askFd(calls.bindCall({ family: 'unix', path: sock }, 0o660, 10));
  t.after(() => native.closeFd(again.fd));
  const st = fs.statSync(sock);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(again.value, st.ino, 'the answer names the file it made');
  await connects({ path: sock }); // queued in the backlog: nobody accepts

  const plain = path.join(dir, 'data');
  fs.writeFileSync(plain, 'precious');
  await expectHostError(
    () => s.askFd(calls.bindCall({ family: 'unix', path: plain }, 0o666, 10)),
    'EADDRINUSE',
    /^binding .*\/data: EADDRINUSE/,
  );
  assert.equal(fs.readFileSync(plain, 'utf8'), 'precious');

  const tcp = await s.askFd(calls.bindCall({ family: 'inet', host: '127.0.0.1', port: 20565 }, 0, 10));
  t.after(() => native.closeFd(tcp.fd));
  assert.equal(tcp.value, 0);
  await connects({ host: '127.0.0.1', port: 20565 });
});

test('UNLINK_SOCKET removes the socket BIND made, and nothing that has taken its place', async (t) => {
  const dir = openTmpdir(t, 'session-unlink');
  const s = session(t);
  const sock = path.join(dir, 'app.sock');
  const bound = await s.askFd(calls.bindCall({ family: 'unix', path: sock }, 0o666, 10));
  native.closeFd(bound.fd);
  await expectHostError(() => s.ask(calls.unlinkSocketCall(sock, bound.value + 1)), 'ESTALE');
  assert.ok(fs.existsSync(sock));
  await s.ask(calls.unlinkSocketCall(sock, bound.value));
  assert.equal(fs.existsSync(sock), false);
  fs.writeFileSync(sock, 'someone else');
  await expectHostError(() => s.ask(calls.unlinkSocketCall(sock, bound.value)), 'ESTALE');
  assert.equal(fs.readFileSync(sock, 'utf8'), 'someone else');
});

test('a call that hangs in the kernel fails at its budget, and the event loop ticks meanwhile', async (t) => {
  const mount = await hungMount(t);
  const s = session(t, 300);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  t.after(() => clearInterval(timer));
  const started = Date.now();
  await expectHostError(
    () => s.askFd(calls.bindCall({ family: 'unix', path: path.join(mount.dir, 'app.sock') }, 0o666, 10)),
    'ETIMEDOUT',
    /^timed out after 0\.3 s binding /,
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 280 && elapsed < 1500, `answered after ${elapsed} ms`);
  assert.ok(ticks >= 10, `the loop ticked ${ticks} times`);
  await expectHostError(() => s.ask(calls.readCall('/etc/hostname', 100)), 'EAGENT', /did not answer in time/);
});
