// A tyrant vassal gets a clean environment of its owner's, the way sudo or systemd give one: a fixed PATH, HOME,
// USER, LOGNAME and SHELL from passwd, the emperor's locale and TZ, the emperor-protocol variables and what its file
// sets; never the emperor's HOME or its unit's secrets. So do its hooks, its @(exec://) commands (the config reader's
// agents) and its on-demand command. --emperor-tyrant-inherit-env gives back uWSGI's inherit-everything behaviour.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TENANT_PATH } from '../src/config/vassal-env';
import { EmperorProcess } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createUser, tenantDirs, vassalFile, type TestUser } from './helpers/users';

/** The emperor's own environment: a secret of its unit, root's HOME, a PATH of its own, a locale and a time zone. */
const EMPEROR_ENV = {
  SECRET_TOKEN: 'hush-4242',
  HOME: '/root',
  PATH: `${process.env.PATH}:/opt/emperor-only/bin`,
  LANG: 'C.UTF-8',
  TZ: 'Europe/Paris',
};

function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

interface Run {
  out: string;
  alice: TestUser;
  emperor: EmperorProcess;
}

/** alice's native vassal (a hook, its app, an @(exec://)) and uWSGI vassal, with an on-demand command for each. */
async function runTenant(t: TestContext, extra: string[]): Promise<Run> {
  const alice = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'tyrantenv');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o777);
  const [port] = await freePorts(1);
  vassalFile(vassals, 'native.ini', alice, [
    'env = FROM_FILE=yes',
    'env = SEEN_HOME=$(HOME)',
    'env = SEEN_SECRET=$(SECRET_TOKEN)',
    `exec-as-user = env > ${out}/hook`,
    `unprivileged-binary-patch-arg = env > ${out}/app; echo '@(exec://env > ${out}/exec)' > /dev/null; exec sleep 3600`,
  ]);
  vassalFile(vassals, 'uwsgi.ini', alice, [`socket = 127.0.0.1:${port}`, `exec-asap = env > ${out}/uwsgi`]);
  const emperor = new EmperorProcess(
    [
      '--emperor',
      vassals,
      '--emperor-tyrant',
      // the command prints nothing: each vassal is an ordinary one, and the command's environment is left behind
      '--emperor-on-demand-exec',
      `sh -c 'env > ${out}/ondemand.$1' ondemand`,
      ...extra,
    ],
    { env: EMPEROR_ENV },
  );
  t.after(() => emperor.kill());
  for (const f of ['hook', 'app', 'exec', 'uwsgi', 'ondemand.native.ini', 'ondemand.uwsgi.ini'])
    await until(() => fs.existsSync(path.join(out, f)) && fs.statSync(path.join(out, f)).size > 0, `${f} written`, 20000);
  return { out, alice, emperor };
}

test("tyrant vassals, their hooks, @(exec://) and on-demand commands get their owner's clean environment", async (t) => {
  const { out, alice, emperor } = await runTenant(t, []);
  // (root with its capabilities has nothing to say about missing ones)
  assert.deepEqual(emperor.events('capability-limited'), []);
  for (const f of ['hook', 'app', 'exec', 'uwsgi', 'ondemand.native.ini', 'ondemand.uwsgi.ini']) {
    const env = envFile(path.join(out, f));
    assert.equal(env.PATH, TENANT_PATH, `${f}: a fixed PATH, not the emperor's`);
    assert.equal(env.HOME, '/nonexistent', `${f}: the owner's HOME`);
    assert.equal(env.USER, alice.name, `${f}: USER`);
    assert.equal(env.LOGNAME, alice.name, `${f}: LOGNAME`);
    assert.equal(env.SHELL, '/usr/sbin/nologin', `${f}: the owner's SHELL`);
    assert.equal(env.LANG, 'C.UTF-8', `${f}: the emperor's locale`);
    assert.equal(env.TZ, 'Europe/Paris', `${f}: the emperor's time zone`);
    assert.equal(env.SECRET_TOKEN, undefined, `${f}: none of the emperor's secrets`);
    assert.equal(env.EMPEROR_LOG_LEVEL, undefined, `${f}: nothing else of the emperor's`);
  }
  // the file's own settings, resolved in the owner's environment too
  const app = envFile(path.join(out, 'app'));
  assert.equal(app.FROM_FILE, 'yes');
  assert.equal(app.SEEN_HOME, '/nonexistent', "$(HOME) in the file is the owner's");
  // the reader resolves the file in the owner's environment, where it is not set: left as written, as uWSGI does
  assert.equal(app.SEEN_SECRET, '$(SECRET_TOKEN)');
  // the emperor protocol's variables
  assert.match(app.UWSGI_EMPEROR_FD ?? '', /^\d+$/, 'the native app has its protocol socket');
  assert.equal(envFile(path.join(out, 'uwsgi')).UWSGI_EMPEROR_FD, '3', 'uWSGI has its protocol socket');
});

test("--emperor-tyrant-inherit-env: tyrant vassals inherit the emperor's whole environment, as uWSGI's do", async (t) => {
  const { out } = await runTenant(t, ['--emperor-tyrant-inherit-env']);
  for (const f of ['hook', 'app', 'exec', 'uwsgi', 'ondemand.native.ini']) {
    const env = envFile(path.join(out, f));
    assert.equal(env.SECRET_TOKEN, 'hush-4242', `${f}: the emperor's environment`);
    assert.equal(env.HOME, '/root', `${f}: the emperor's HOME`);
    assert.equal(env.PATH, EMPEROR_ENV.PATH, `${f}: the emperor's PATH`);
  }
  const app = envFile(path.join(out, 'app'));
  assert.equal(app.SEEN_HOME, '/root');
  assert.equal(app.SEEN_SECRET, 'hush-4242');
});
