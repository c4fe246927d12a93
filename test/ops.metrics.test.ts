// Prometheus metrics through --emperor-metrics: the exposition text parsed, every family named as systemd_exporter
// names a unit's, and the counters growing between scrapes (restarts of a crash loop, CPU of a busy vassal, config
// errors of a broken file, the spawn duration histogram).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const PORT = 20941;

interface Scrape {
  types: Map<string, string>;
  values: Map<string, number>;
}

/** The text format: '# TYPE name type' lines and 'name{labels} value' samples. */
function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    assert.equal(values.has(sample[1]), false, `one sample per series: ${sample[1]}`);
    values.set(sample[1], Number(sample[2]));
  }
  return { types, values };
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${PORT}/metrics`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

test('metrics: the families and their types, and counters that grow', async (t) => {
  const dir = tmpdir('ops-metrics');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // a little CPU now and then, not a spinning core on a shared machine
  fs.writeFileSync(
    path.join(dir, 'busy.ini'),
    "[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c 'while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.1; done'\n",
  );
  fs.writeFileSync(path.join(dir, 'crash.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = sleep 0.2; exit 1\n');
  const emperor = new EmperorProcess([
    '--emperor',
    dir,
    '--emperor-metrics',
    `127.0.0.1:${PORT}`,
    '--emperor-throttle',
    '100',
    '--emperor-max-throttle',
    '300',
  ]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'busy.ini');

  const first = await until(async () => {
    const s = await scrape();
    return (s.values.get('emperor_vassal_cpu_seconds_total{vassal="busy.ini"}') ?? 0) > 0 ? s : undefined;
  }, 'a first CPU sample of busy.ini');
  const expected: Record<string, string> = {
    emperor_vassal_up: 'gauge',
    emperor_vassal_state: 'gauge',
    emperor_vassal_restarts_total: 'counter',
    emperor_vassal_start_time_seconds: 'gauge',
    emperor_vassal_throttle_seconds: 'gauge',
    emperor_vassal_cpu_seconds_total: 'counter',
    emperor_vassal_memory_bytes: 'gauge',
    emperor_spawn_duration_seconds: 'histogram',
    emperor_config_errors_total: 'counter',
  };
  for (const [name, type] of Object.entries(expected)) assert.equal(first.types.get(name), type, name);
  const v = first.values;
  assert.equal(v.get('emperor_vassal_up{vassal="busy.ini"}'), 1);
  assert.equal(v.get('emperor_vassal_state{vassal="busy.ini",state="running"}'), 1);
  assert.equal(v.get('emperor_vassal_state{vassal="busy.ini",state="broken"}'), 0);
  const start = v.get('emperor_vassal_start_time_seconds{vassal="busy.ini"}')!;
  assert.ok(Math.abs(start - Date.now() / 1000) < 60, `start time ${start}`);
  const mem = v.get('emperor_vassal_memory_bytes{vassal="busy.ini"}')!;
  assert.ok(mem > 100_000 && mem < 100_000_000, `memory of an init and a shell: ${mem}`);
  assert.ok(v.get('emperor_spawn_duration_seconds_count')! >= 1);
  assert.ok(v.get('emperor_spawn_duration_seconds_bucket{le="+Inf"}')! >= 1);
  assert.equal(v.get('emperor_config_errors_total'), 0);

  fs.writeFileSync(
    path.join(dir, 'broken.ini'),
    '[uwsgi]\nini = /nonexistent/emperor-test.ini\nunprivileged-binary-patch-arg = exec sleep 100\n',
  );
  const later = await until(
    async () => {
      const s = await scrape();
      const grew = (k: string) => s.values.get(k)! > first.values.get(k)!;
      return grew('emperor_vassal_cpu_seconds_total{vassal="busy.ini"}') &&
        grew('emperor_vassal_restarts_total{vassal="crash.ini"}') &&
        s.values.get('emperor_config_errors_total') === 1
        ? s
        : undefined;
    },
    'CPU, restarts and config errors to grow',
    20000,
  );
  assert.equal(later.values.get('emperor_vassal_state{vassal="broken.ini",state="broken"}'), 1);
  assert.equal(later.values.get('emperor_vassal_up{vassal="broken.ini"}'), 0);
  await until(
    async () => ((await scrape()).values.get('emperor_vassal_throttle_seconds{vassal="crash.ini"}') ?? 0) > 0,
    "crash.ini's throttle level",
  );

  const notFound = await fetch(`http://127.0.0.1:${PORT}/`, { signal: AbortSignal.timeout(3000) });
  assert.equal(notFound.status, 404);
});
