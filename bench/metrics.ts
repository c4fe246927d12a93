// Benchmark: the cost of a Prometheus scrape and of the CPU/memory samples behind it.
//   node dist/bench/metrics.js [--vassals 5000] [--processes 500]
// 1. A scrape of N vassals: the /metrics document rendered (the per-vassal families and prom-client's registry), and
//    the same over HTTP from the metrics server; beside it, prom-client's own labelled gauges for the same series.
// 2. One CPU/memory sample of P real processes (sleep), each as a vassal: through /proc with their process tree, and
//    through a cgroup each (cgroup.procs, then /proc). A scrape never waits for a sample (it starts the next one);
//    the sampler runs in batches of 50 vassals between which the loop turns.
import { spawn, type ChildProcess } from 'node:child_process';
import * as nodeHttp from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { findCgroup2Mount, ownCgroupPath } from '../src/cgroup/tree';
import { EmperorMetrics, VASSAL_STATES, startMetricsServer, type VassalMetrics } from '../src/ops/metrics-server';
import { UsageSampler, type UsageTarget } from '../src/ops/usage';
import { option } from './helpers/args';

const VASSALS = Number(option('vassals', '5000'));
const PROCESSES = Number(option('processes', '500'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function timed(rounds: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** The whole body, counted and dropped: the client's side costs as little as it can in this same process. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    nodeHttp
      .get(url, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject);
  });
}

function vassals(n: number): VassalMetrics[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `vassal-${String(i).padStart(5, '0')}.ini`,
    state: VASSAL_STATES[i % VASSAL_STATES.length],
    restarts: i % 7,
    startTime: 1_796_000_000 + i,
    throttleSeconds: i % 3,
    cpuSeconds: i * 0.01,
    memoryBytes: 4_000_000 + i,
    outputDropped: 0,
  }));
}

async function scrape(): Promise<void> {
  const metrics = new EmperorMetrics();
  for (let i = 0; i < 100; i++) metrics.spawnDuration.observe(i / 1000);
  const vs = vassals(VASSALS);
  const render = await timed(30, () => metrics.render(vs));
  const size = (await metrics.render(vs)).length;
  const server = await startMetricsServer('127.0.0.1:0', metrics, () => vs);
  const http = await timed(30, () => get(`http://${server.address}/metrics`));
  // as a scraper in another process sees it: curl's own total time, while this process only serves
  const curl: number[] = [];
  for (let i = 0; i < 15; i++) {
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const c = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total}', `http://${server.address}/metrics`]);
      c.stdout.on('data', (d: Buffer) => (text += d));
      c.on('close', () => resolve(text));
    });
    curl.push(Number(out) * 1000);
  }
  await server.close();
  console.log(
    `scrape of ${VASSALS} vassals (${size} bytes): render median ${ms(median(render))} (max ${ms(Math.max(...render))}); over HTTP, client in this process, median ${ms(median(http))} (max ${ms(Math.max(...http))}); curl's time_total median ${ms(median(curl))} (max ${ms(Math.max(...curl))})`,
  );

  // prom-client's labelled gauges, set at scrape time from the same table
  const reg = new Registry();
  const gauges = [
    'up',
    'restarts_total',
    'start_time_seconds',
    'throttle_seconds',
    'cpu_seconds_total',
    'memory_bytes',
    'output_dropped_total',
  ].map((n) => new Gauge({ name: `emperor_vassal_${n}`, help: n, labelNames: ['vassal'], registers: [reg] }));
  const state = new Gauge({ name: 'emperor_vassal_state', help: 'state', labelNames: ['vassal', 'state'], registers: [reg] });
  const viaPromClient = await timed(3, async () => {
    for (const v of vs) {
      for (const g of gauges) g.set({ vassal: v.name }, v.cpuSeconds);
      for (const s of VASSAL_STATES) state.set({ vassal: v.name, state: s }, +(v.state === s));
    }
    return reg.metrics();
  });
  console.log(`the same series through prom-client's labelled gauges: median ${ms(median(viaPromClient))}`);
}

async function sample(): Promise<void> {
  const children: ChildProcess[] = [];
  const mount = findCgroup2Mount();
  const own = ownCgroupPath();
  const base = mount && own !== undefined ? path.join(mount, own, `emperor-bench.${process.pid}`) : undefined;
  try {
    for (let i = 0; i < PROCESSES; i++) children.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 500));
    const plain: Array<[object, UsageTarget]> = children.map((c) => [{}, { pid: c.pid! }]);
    const sampler = new UsageSampler();
    const times = await timed(5, () => sampler.refresh(() => plain));
    console.log(
      `sample of ${PROCESSES} vassals through /proc (process tree): median ${ms(median(times))}, ${((median(times) / PROCESSES) * 1000).toFixed(1)} µs per vassal`,
    );
    if (base) {
      fs.mkdirSync(base);
      const grouped: Array<[object, UsageTarget]> = children.map((c, i) => {
        const dir = path.join(base, `v${i}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(c.pid));
        return [{}, { pid: c.pid!, cgroup: dir }];
      });
      const cg = await timed(5, () => new UsageSampler().refresh(() => grouped));
      console.log(
        `sample of ${PROCESSES} vassals through their cgroups (cgroup.procs, then /proc): median ${ms(median(cg))}, ${((median(cg) / PROCESSES) * 1000).toFixed(1)} µs per vassal`,
      );
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    if (base) {
      for (const d of fs.existsSync(base) ? fs.readdirSync(base, { withFileTypes: true }) : [])
        if (d.isDirectory()) fs.rmdirSync(path.join(base, d.name));
      if (fs.existsSync(base)) fs.rmdirSync(base);
    }
  }
}

(async () => {
  // how fast this machine is right now (it is often shared): the figures below scale with it
  const t = performance.now();
  let x = 0;
  for (let i = 0; i < 1e7; i++) x += i;
  console.log(`machine: a 10^7-iteration loop took ${ms(performance.now() - t)} (${x > 0 ? 'ran' : ''})`);
  await scrape();
  await sample();
})().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
