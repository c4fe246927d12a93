// Config reader speed: resolve 1,000 vassal files the size of the FUSE tutorial's unionfs vassal; median time per
// file and peak memory, and real `uwsgi --show-config` (sandboxed, as the oracle runs it) on a sample for scale.
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

async function main(): Promise<void> {
  const dir = makeOracleDir('emperor-config-bench');
  try {
    for (let i = 0; i < FILES; i++) {
      const text = TEMPLATE.replace(/user001/g, `user${String(i).padStart(3, '0')}`).replace(':9090', `:${10000 + i}`)
        + `vassal_name = %n\nsocket = /tmp/sockets/%(vassal_name).sock\n`;
      fs.writeFileSync(path.join(dir, `app${i}.ini`), text);
    }
    const bytes = fs.statSync(path.join(dir, 'app0.ini')).size;
    // as the emperor's reader does it: every file through an agent holding the vassal's identity
    const opts = { cwd: dir, env: { ...ORACLE_ENV }, as: NOBODY };
    for (let i = 0; i < 100; i++) load(`app${i}.ini`, opts);
    const rssBefore = process.memoryUsage().rss;
    const times: number[] = [];
    let options = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FILES; i++) {
      const s = process.hrtime.bigint();
      options += load(`app${i}.ini`, opts).options.length;
      times.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    times.sort((a, b) => a - b);
    const peakRssKb = process.resourceUsage().maxRSS;
    console.log(`emperor loadConfig (through an agent): ${FILES} files of ${bytes} bytes (${options / FILES} options each)`);
    console.log(`  median ${quantile(times, 0.5).toFixed(3)} ms/file, p95 ${quantile(times, 0.95).toFixed(3)} ms, max ${times[times.length - 1].toFixed(3)} ms, total ${totalMs.toFixed(1)} ms`);
    console.log(`  peak RSS ${(peakRssKb / 1024).toFixed(1)} MiB (RSS before the timed loop ${(rssBefore / 1048576).toFixed(1)} MiB)`);

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

main().catch((e) => { console.error(e); process.exitCode = 1; });
