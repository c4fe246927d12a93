// Config reader speed: resolve 1,000 vassal files the size of the FUSE tutorial's unionfs vassal; median time per
// file and peak memory, the same files as xml, and real `uwsgi --show-config` (sandboxed, as the oracle runs it) on a
// sample for scale.
// Run: npx tsc -p tsconfig.json && node dist/bench/config.js
import * as fs from 'node:fs';
import * as path from 'node:path';
import { load } from '../test/helpers/config-host';
import { NOBODY, ORACLE_ENV, makeOracleDir, runUwsgiShowConfig } from '../test/helpers/uwsgi-oracle';

const FILES = 1000;
const UWSGI_SAMPLE = 20;
const TEMPLATE = fs.readFileSync(path.resolve(__dirname, '../../test/fixtures/config/fuse-tutorial/unionfs.ini'), 'utf8');

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The same options as an xml vassal: one element per `key = value` line of the [uwsgi] section. */
function asXml(ini: string): string {
  const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lines = ini
    .split('\n')
    .map((l) => /^([^;#[=\s][^=]*?)\s*=\s*(.*)$/.exec(l))
    .filter((m) => m !== null);
  return `<uwsgi>\n${lines.map((m) => `  <${m[1]}>${esc(m[2])}</${m[1]}>`).join('\n')}\n</uwsgi>\n`;
}

/** Median and p95 ms per file of resolving each name once (after a warm-up), and the total. */
function timeLoads(
  names: string[],
  opts: Parameters<typeof load>[1],
): { median: number; p95: number; max: number; totalMs: number; options: number } {
  for (const n of names.slice(0, 100)) load(n, opts);
  const times: number[] = [];
  let options = 0;
  const t0 = process.hrtime.bigint();
  for (const n of names) {
    const s = process.hrtime.bigint();
    options += load(n, opts).options.length;
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  times.sort((a, b) => a - b);
  return { median: quantile(times, 0.5), p95: quantile(times, 0.95), max: times[times.length - 1], totalMs, options };
}

async function main(): Promise<void> {
  const dir = makeOracleDir('emperor-config-bench');
  try {
    for (let i = 0; i < FILES; i++) {
      const text =
        TEMPLATE.replace(/user001/g, `user${String(i).padStart(3, '0')}`).replace(':9090', `:${10000 + i}`) +
        `vassal_name = %n\nsocket = /tmp/sockets/%(vassal_name).sock\n`;
      fs.writeFileSync(path.join(dir, `app${i}.ini`), text);
      fs.writeFileSync(path.join(dir, `app${i}.xml`), asXml(text));
    }
    const names = (ext: string) => Array.from({ length: FILES }, (_, i) => `app${i}.${ext}`);
    // as the emperor's reader does it: every file through an agent holding the vassal's identity
    const opts = { cwd: dir, env: { ...ORACLE_ENV }, as: NOBODY };
    const rssBefore = process.memoryUsage().rss;
    for (const ext of ['ini', 'xml']) {
      const r = timeLoads(names(ext), opts);
      console.log(
        `emperor loadConfig (through an agent): ${FILES} ${ext} files of ${fs.statSync(path.join(dir, `app0.${ext}`)).size} bytes (${r.options / FILES} options each)`,
      );
      console.log(
        `  median ${r.median.toFixed(3)} ms/file, p95 ${r.p95.toFixed(3)} ms, max ${r.max.toFixed(3)} ms, total ${r.totalMs.toFixed(1)} ms`,
      );
    }
    const peakRssKb = process.resourceUsage().maxRSS;
    console.log(`  peak RSS ${(peakRssKb / 1024).toFixed(1)} MiB (RSS before the timed loops ${(rssBefore / 1048576).toFixed(1)} MiB)`);

    const uw: number[] = [];
    for (let i = 0; i < UWSGI_SAMPLE; i++) {
      const s = process.hrtime.bigint();
      const run = await runUwsgiShowConfig(dir, ['--ini', `app${i}.ini`]);
      uw.push(Number(process.hrtime.bigint() - s) / 1e6);
      if (!run.lines) throw new Error(`uwsgi printed no config for app${i}.ini:\n${run.output}`);
    }
    uw.sort((a, b) => a - b);
    console.log(`uwsgi --show-config (sandboxed: unshare + setpriv + exec), ${UWSGI_SAMPLE} of the same files:`);
    console.log(`  median ${quantile(uw, 0.5).toFixed(1)} ms/file, p95 ${quantile(uw, 0.95).toFixed(1)} ms`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
