// A tyrant vassal's clean environment (src/config/vassal-env.ts): what it gets of the emperor's, and what it never
// does; its owner's identity from passwd, with defaults for a uid that has no entry.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TENANT_PATH, tenantEnvironment } from '../src/config/vassal-env';

const EMPEROR = {
  PATH: '/opt/secret/bin:/usr/bin',
  HOME: '/root',
  USER: 'root',
  DB_PASSWORD: 'hunter2',
  LANG: 'de_DE.UTF-8',
  LC_TIME: 'C',
  TZ: 'UTC',
  UWSGI_VASSAL_SOCKET: '/run/%n.sock',
  UWSGI_RELOADS: '3',
  NOTIFY_SOCKET: '/run/systemd/notify',
  http_proxy: 'http://proxy:3128',
};

test('a uid without a passwd entry: its number as its name, HOME / and /bin/sh; the locale, TZ and UWSGI_VASSAL_* pass', () => {
  assert.deepEqual(tenantEnvironment(EMPEROR, 4242424, []), {
    PATH: TENANT_PATH,
    HOME: '/',
    USER: '4242424',
    LOGNAME: '4242424',
    SHELL: '/bin/sh',
    LANG: 'de_DE.UTF-8',
    LC_TIME: 'C',
    TZ: 'UTC',
    UWSGI_SOCKET: '/run/%n.sock',
  });
});

test("root's passwd entry names its home; what is kept passes as the emperor has it, and nothing else does", () => {
  const env = tenantEnvironment(EMPEROR, 0, ['http_proxy', 'NOTIFY_SOCKET', 'NOT_SET']);
  assert.equal(env.HOME, '/root');
  assert.equal(env.USER, 'root');
  assert.equal(env.http_proxy, 'http://proxy:3128', 'kept by name');
  assert.equal(env.NOTIFY_SOCKET, undefined, "systemd's socket is the emperor's, kept or not");
  assert.equal(env.NOT_SET, undefined);
  assert.equal(env.DB_PASSWORD, undefined);
  assert.equal(env.UWSGI_RELOADS, undefined);
  assert.equal(env.PATH, TENANT_PATH);
  // PATH kept on purpose is the emperor's
  assert.equal(tenantEnvironment(EMPEROR, 0, ['PATH']).PATH, EMPEROR.PATH);
});
