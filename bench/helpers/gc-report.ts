// Preloaded by bench/scale.ts into the emperor it measures (node --expose-gc -r dist/bench/helpers/gc-report.js): on SIGUSR2
// a full garbage collection, then the process's memory figures written to $EMPEROR_BENCH_MEMORY. The emperor itself
// neither handles SIGUSR2 nor knows of this file.
import * as fs from 'node:fs';

const out = process.env.EMPEROR_BENCH_MEMORY;
const gc = (globalThis as { gc?: () => void }).gc;
if (out && gc) {
  process.on('SIGUSR2', () => {
    gc();
    gc();
    const m = process.memoryUsage();
    fs.writeFileSync(
      `${out}.tmp`,
      JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }),
    );
    fs.renameSync(`${out}.tmp`, out);
  });
}
