// Free TCP ports for servers a test starts: below 32768 (the ephemeral range starts there), tried by binding.
import * as net from 'node:net';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` distinct free ports from 26000-31999 (a range no other test file uses). */
export async function freePorts(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < 500; tries++) {
    const p = 26000 + Math.floor(Math.random() * 6000);
    if (!out.includes(p) && (await canListen(p))) out.push(p);
  }
  if (out.length < count) throw new Error(`no ${count} free ports in 26000-31999`);
  return out;
}
