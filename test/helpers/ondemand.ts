// On-demand vassals in tests: a request that waits as long as a vassal takes to wake, and a native app that serves
// on the socket it inherits and asks to be stopped once idle.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const HELPER = path.resolve(__dirname, '../../src/sdk/vassal.js');

/** GET / over TCP or a unix socket, waiting as long as a vassal takes to wake (the connection waits in the backlog). */
export function get(to: { port: number } | { socketPath: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...to, host: '127.0.0.1', path: '/', agent: false, timeout: 15000 }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 15 s from ${JSON.stringify(to)}`)));
    req.on('error', reject);
  });
}

/** A Node app: serves on fd 3 (LISTEN_FDS), asks to be stopped (22) after a second without requests. */
export function idleApp(dir: string): string {
  const file = path.join(dir, 'app.cjs');
  fs.writeFileSync(
    file,
    `'use strict';
const vassal = require(${JSON.stringify(HELPER)});
let timer;
const idle = () => { clearTimeout(timer); timer = setTimeout(() => vassal.shutdown(), 1000); };
const server = require('http').createServer((req, res) => {
  idle();
  res.end('pid ' + process.pid + ' uid ' + process.getuid() + ' fds ' + process.env.LISTEN_FDS + ' ' + process.env.LISTEN_FDNAMES);
});
vassal.on('stop', () => process.exit(0));
server.listen({ fd: 3 }, () => { vassal.ready(); idle(); });
`,
  );
  return file;
}
