// A native vassal's setup outcome travels over its init's control channel, never through the exit code: an app
// that exits with the codes the init uses for itself (124, 125, 126) is an app death, respawned, not a broken config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';

test('an app exiting 124, 125 or 126 is respawned like any app death', async (t) => {
  const dir = tmpdir('appexit');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const code of [124, 125, 126]) {
    fs.writeFileSync(path.join(dir, `e${code}.ini`), `[uwsgi]\nunprivileged-binary-patch-arg = sleep 0.2; exit ${code}\n`);
  }
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-throttle', '50', '--emperor-max-throttle', '100']);
  t.after(() => emperor.kill());
  for (const code of [124, 125, 126]) {
    const name = `e${code}.ini`;
    await emperor.waitEvent('spawned', name, 3);
    const exits = emperor.events('exit', name);
    assert.ok(
      exits.length >= 2 && exits.every((e) => e.code === code),
      `${name} exited with ${code}: ${JSON.stringify(exits.map((e) => e.code))}`,
    );
    assert.equal(emperor.events('setup-error', name).length, 0, `${name} is not a broken config`);
  }
});
