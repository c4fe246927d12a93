// The emperor stats server: each connection gets one JSON document, then the socket is closed (uWSGI's behaviour).
// Anyone who can reach it may connect: connections are capped in all and per peer, and one is closed as soon as its
// document is written, or when it has taken none of it for IDLE_MS (a client that never reads holds nothing long).
import * as net from 'node:net';
import { promises as fsp } from 'node:fs';
import { logger } from '../log';
import { formatStatsAddress, parseStatsAddress } from './address';
import { ConnectionLimits, IDLE_MS, peerOf } from './connection-limits';

export interface StatsServer {
  close(): Promise<void>;
  /** Where it listens, in the same notation as the input (TCP with the real port when 0 was asked). */
  address: string;
  /** Its connection caps, and how many it refused. */
  limits: ConnectionLimits;
}

/**
 * A unix socket file left by a dead emperor is removed; one a live process still answers on is an error (`option`
 * names the setting, e.g. '--emperor-stats /run/emperor.sock').
 */
export async function clearStaleSocket(path: string, option: string): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${option}: ${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${option}: another process is listening on ${path}`);
  await fsp.unlink(path);
}

export async function startStatsServer(addr: string, snapshot: () => object): Promise<StatsServer> {
  const where = parseStatsAddress(addr);
  const fileSocket = where.kind === 'unix' && !where.path.startsWith('\0') ? where.path : null;
  if (fileSocket) await clearStaleSocket(fileSocket, `--emperor-stats ${addr}`);

  const open = new Set<net.Socket>();
  const limits = new ConnectionLimits('stats', logger());
  const server = net.createServer((sock) => {
    sock.on('error', () => sock.destroy()); // a client that hangs up early is its own business
    try {
      if (!limits.admit(sock, peerOf(sock))) return;
    } catch {
      return void sock.destroy(); // gone before the kernel could say who it was
    }
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    let body: string;
    try {
      body = JSON.stringify(snapshot());
    } catch (err) {
      logger().error({ event: 'stats', err: (err as Error).message }, 'cannot build the stats snapshot');
      sock.destroy();
      return;
    }
    // written: closed at once, whether or not the client ever closes its end
    sock.end(body, () => sock.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`--emperor-stats ${addr}: ${err.message}`)));
    if (where.kind === 'tcp') server.listen({ host: where.host, port: where.port, exclusive: true }, resolve);
    else server.listen({ path: where.path, exclusive: true }, resolve);
  });
  server.on('error', (err) => logger().error({ event: 'stats', err: err.message }, 'stats server error'));

  // remember which socket file is ours, so close() never unlinks one that a newer emperor created in its place
  const ourIno = fileSocket ? (await fsp.lstat(fileSocket)).ino : 0;
  const bound = server.address();
  const address =
    where.kind === 'tcp' && bound && typeof bound === 'object'
      ? formatStatsAddress({ ...where, port: bound.port })
      : formatStatsAddress(where);

  return {
    address,
    limits,
    close: async () => {
      limits.close();
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (fileSocket) {
        const st = await fsp.lstat(fileSocket).catch(() => null);
        if (st && st.ino === ourIno) await fsp.unlink(fileSocket).catch(() => undefined);
      }
    },
  };
}
