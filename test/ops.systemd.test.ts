// systemd integration through a real NOTIFY_SOCKET (an AF_UNIX datagram socket the test binds): READY=1 with the
// counts after the first scan, STATUS= as they change, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then
// READY=1 on SIGHUP, STOPPING=1 at Ragnarok; the vassals never see the service's NOTIFY_SOCKET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { NotifySocket } from './helpers/notify-socket';
import { until } from './helpers/wait';

test('sd_notify on an abstract socket: READY, STATUS, WATCHDOG, RELOADING, STOPPING; vassals do not inherit it', async (t) => {
  const dir = tmpdir('ops-notify');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const envFile = path.join(dir, 'vassal-env');
  fs.writeFileSync(path.join(dir, 'app.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = env > ${envFile}; exec sleep 1000\n`);
  const sock = new NotifySocket(`@emperor-test-${randomBytes(6).toString('hex')}`);
  t.after(() => sock.close());
  await sock.ready();
  const emperor = new EmperorProcess(['--emperor', dir], { env: { NOTIFY_SOCKET: sock.address, WATCHDOG_USEC: '400000' } });
  t.after(() => emperor.kill());

  const ready = await sock.waitFor((m) => m.startsWith('READY=1'), 'READY=1');
  assert.match(ready, new RegExp(`^READY=1\\nSTATUS=1 vassal: 1 (starting|running)\\nMAINPID=${emperor.pid}$`));
  await sock.waitFor((m) => m === 'STATUS=1 vassal: 1 running', 'STATUS= once the vassal runs');
  await until(() => sock.messages.filter((m) => m === 'WATCHDOG=1').length >= 3, 'three WATCHDOG=1 (every 200 ms)', 5000);
  await until(() => fs.existsSync(envFile) && fs.readFileSync(envFile, 'utf8').includes('PATH='), "the vassal's environment");
  assert.doesNotMatch(fs.readFileSync(envFile, 'utf8'), /NOTIFY_SOCKET|WATCHDOG_/, 'the vassal is not the service');

  const beforeHup = sock.messages.length;
  emperor.child.kill('SIGHUP');
  const reloading = await sock.waitFor((m) => m.startsWith('RELOADING=1'), 'RELOADING=1', beforeHup);
  assert.match(reloading, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
  const afterReload = sock.messages.indexOf(reloading);
  await sock.waitFor((m) => m.startsWith('READY=1'), 'READY=1 after the reload', afterReload + 1);

  emperor.child.kill('SIGTERM');
  await sock.waitFor((m) => m.startsWith('STOPPING=1'), 'STOPPING=1');
  assert.equal((await emperor.waitExit()).code, 0);
});

test('sd_notify on a socket path: READY=1 after the first scan of an empty directory', async (t) => {
  const dir = tmpdir('ops-notify-path');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'vassals'));
  const sock = new NotifySocket(path.join(dir, 'notify.sock'));
  t.after(() => sock.close());
  await sock.ready();
  const emperor = new EmperorProcess(['--emperor', path.join(dir, 'vassals')], { env: { NOTIFY_SOCKET: sock.address } });
  t.after(() => emperor.kill());
  assert.equal(await sock.waitFor((m) => m.startsWith('READY=1'), 'READY=1'), `READY=1\nSTATUS=0 vassals\nMAINPID=${emperor.pid}`);
  assert.equal(sock.messages.filter((m) => m === 'WATCHDOG=1').length, 0, 'no watchdog without WATCHDOG_USEC');
});

test('the unit file in examples/systemd is one systemd accepts: Type=notify, KillMode=mixed, Delegate=yes', () => {
  const unit = path.resolve(__dirname, '../../examples/systemd/emperor.service');
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warning');
  const text = fs.readFileSync(unit, 'utf8');
  for (const line of ['Type=notify', 'KillMode=mixed', 'Delegate=yes', 'ExecReload=/bin/kill -HUP $MAINPID'])
    assert.match(text, new RegExp(`^${line.replace(/[$]/g, '\\$')}$`, 'm'));
});
