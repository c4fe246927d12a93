// The addon's unix-socket calls: sendDatagram (sd_notify's transport) and peerCredentials (the control socket's
// SO_PEERCRED), each failing as a NativeError with code, errno and syscall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { NativeError, closeFd, peerCredentials, pipe, sendDatagram } from '../src/native';
import { NotifySocket } from './helpers/notify-socket';
import { within } from './helpers/wait';

test('sendDatagram: one datagram to a path and to an abstract name; a missing receiver is a NativeError', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-dgram-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const address of [path.join(dir, 'n.sock'), `@emperor-dgram-${process.pid}`]) {
    const sock = new NotifySocket(address);
    t.after(() => sock.close());
    await sock.ready();
    sendDatagram(address, 'READY=1\nSTATUS=é');
    assert.equal(await sock.waitFor(() => true, `a datagram on ${address}`, 0, 5000), 'READY=1\nSTATUS=é');
  }
  assert.throws(
    () => sendDatagram(path.join(dir, 'missing.sock'), 'x'),
    (e: NativeError) =>
      e instanceof NativeError &&
      e.code === 'ENOENT' &&
      e.errno === -os.constants.errno.ENOENT &&
      e.syscall === 'sendto' &&
      e.path === path.join(dir, 'missing.sock'),
  );
  assert.throws(
    () => sendDatagram('@emperor-nobody-listens', 'x'),
    (e: NativeError) => e.code === 'ECONNREFUSED' && e.syscall === 'sendto',
  );
  assert.throws(
    () => sendDatagram(`/${'x'.repeat(200)}`, 'x'),
    (e: NativeError) => e.code === 'EINVAL',
  );
});

test('peerCredentials: who connected a unix socket, as the kernel says; not a socket is ENOTSOCK', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-peer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'p.sock');
  const seen = new Promise<{ pid: number; uid: number; gid: number }>((resolve) => {
    const server = net
      .createServer((s) => {
        resolve(peerCredentials((s as unknown as { _handle: { fd: number } })._handle.fd));
        s.destroy();
        server.close();
      })
      .listen(file);
  });
  const client = net.connect(file);
  client.on('error', () => {});
  assert.deepEqual(await within(seen, 5000, 'a connection'), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  client.destroy();
  const [r, w] = pipe();
  try {
    assert.throws(
      () => peerCredentials(r),
      (e: NativeError) => e instanceof NativeError && e.code === 'ENOTSOCK' && e.syscall === 'getsockopt',
    );
  } finally {
    closeFd(r);
    closeFd(w);
  }
});
