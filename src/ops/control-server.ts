// The control socket (--emperor-control PATH): `emperor logs/reload/stop/start/resume/status/drain/resume-pool` talk
// to the running emperor here. Who asks is the kernel's word (SO_PEERCRED at connect), never the request's: root and
// the emperor's own uid may act on every vassal (and alone may drain or resume the pool); in tyrant mode a user may act
// on the vassals that run as them, and nothing else.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { peerCredentials, type PeerCredentials } from '../native';
import { clearStaleSocket } from './index';
import type { Logger } from '../log';
import type { OutputLine } from '../output/vassal-output';
import { ACTIONS, POOL_ERROR_CODES, type ControlAnswer, type ControlErrorCode, type ControlRequest } from './control-wire';
import { detached } from '../detach';

/** One vassal as the control socket acts on it. */
export interface ControlledVassal {
  readonly name: string;
  /** The uid it runs as (its file's owner in tyrant mode), as it is now: it moves when the owner changes. */
  readonly uid: number;
  readonly state: string;
  reload(reason: string): void;
  adminStop(): void;
  adminStart(): void;
  resume(): void;
}

export interface VassalLog {
  recent(n: number): OutputLine[];
  follow(fn: (l: OutputLine) => void): () => void;
}

export interface ControlHost {
  tyrant: boolean;
  /** emperor drain: hands every pool vassal over (moved: each one, and where it is now); the outcome line. */
  drain(moved: (vassal: string, where: string) => void): Promise<string>;
  /** emperor resume-pool: the outcome line. */
  resumePool(): Promise<string>;
  vassals(): ControlledVassal[];
  /** The stats document with only the vassals `visible` lets through. */
  status(visible: (v: ControlledVassal) => boolean): Promise<unknown>;
  output(v: ControlledVassal): VassalLog | undefined;
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

/** A follower that does not read: past this much unsent, it is cut off rather than held in memory. */
const MAX_UNSENT = 4 * 1024 * 1024;
const MAX_REQUEST = 64 * 1024;
const DEFAULT_LINES = 15;

export async function startControlServer(path: string, host: ControlHost, log: Logger): Promise<ControlServer> {
  const abstract = path.startsWith('@');
  const listenPath = abstract ? `\0${path.slice(1)}` : path;
  if (!abstract) await clearStaleSocket(path, `--emperor-control ${path}`);
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    sock.on('error', () => sock.destroy());
    let peer: PeerCredentials;
    try {
      peer = peerCredentials((sock as unknown as { _handle: { fd: number } })._handle.fd);
    } catch (e) {
      log.error(
        { event: 'control-error', error: (e as Error).message },
        `control socket: cannot tell who connected: ${(e as Error).message}`,
      );
      sock.destroy();
      return;
    }
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length <= MAX_REQUEST) return;
      sock.off('data', onData);
      let req: ControlRequest;
      try {
        if (nl < 0) throw new Error(`a request is one line of at most ${MAX_REQUEST} bytes`);
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
      } catch (e) {
        return finish(sock, fail('EINVAL', `bad request: ${(e as Error).message}`));
      }
      detached(serve(sock, req, peer, host, log), 'control request');
    };
    sock.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`--emperor-control ${path}: ${err.message}`)));
    server.listen({ path: listenPath, exclusive: true }, resolve);
  });
  server.on('error', (err) => log.error({ event: 'control-error', error: err.message }, 'control socket error'));
  let ino = 0;
  if (!abstract) {
    // tenants connect in tyrant mode, and the peer check decides what they may do; otherwise only the emperor's user
    fs.chmodSync(path, host.tyrant ? 0o666 : 0o600);
    ino = fs.lstatSync(path).ino;
  }
  return {
    path,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // never unlink a socket a newer emperor put in its place
      if (!abstract && fs.lstatSync(path, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(path, { force: true });
    },
  };
}

function fail(code: ControlErrorCode, error: string): ControlAnswer {
  return { ok: false, code, error };
}

function send(sock: net.Socket, a: ControlAnswer | unknown): void {
  if (!sock.destroyed) sock.write(`${JSON.stringify(a)}\n`);
}

function finish(sock: net.Socket, a: ControlAnswer): void {
  send(sock, a);
  sock.end();
}

/** Whether `peer` may act on everything: root, or the user the emperor itself runs as. */
function isAdmin(peer: PeerCredentials): boolean {
  return peer.uid === 0 || peer.uid === process.geteuid!();
}

async function serve(sock: net.Socket, req: ControlRequest, peer: PeerCredentials, host: ControlHost, log: Logger): Promise<void> {
  const admin = isAdmin(peer);
  if (!admin && !host.tyrant) {
    return finish(
      sock,
      fail(
        'EPERM',
        `permission denied: uid ${peer.uid} is not root nor this emperor's user, and outside tyrant mode no other user may control it`,
      ),
    );
  }
  const mayAct = (v: ControlledVassal) => admin || v.uid === peer.uid;
  let targets: ControlledVassal[] = [];
  if (req.vassal !== undefined) {
    if (typeof req.vassal !== 'string' || !req.vassal) return finish(sock, fail('EINVAL', 'bad request: vassal must be a name'));
    targets = host.vassals().filter((v) => v.name === req.vassal);
    if (!targets.length) return finish(sock, fail('ENOVASSAL', `no vassal named ${req.vassal}`));
    const refused = targets.find((v) => !mayAct(v));
    if (refused)
      return finish(
        sock,
        fail(
          'EPERM',
          `permission denied: vassal ${refused.name} runs as uid ${refused.uid}, and uid ${peer.uid} may act only on its own vassals`,
        ),
      );
  }
  if (req.cmd === 'drain' || req.cmd === 'resume-pool') {
    if (!admin) return finish(sock, fail('EPERM', `permission denied: only root or this emperor's user may ${req.cmd}`));
    log.info({ event: 'control', cmd: req.cmd, peer_uid: peer.uid, peer_pid: peer.pid }, `control: ${req.cmd} (asked by uid ${peer.uid})`);
    try {
      const outcome =
        req.cmd === 'drain' ? await host.drain((vassal, where) => send(sock, { ok: true, vassal, state: where })) : await host.resumePool();
      return finish(sock, { ok: true, state: outcome });
    } catch (e) {
      const code = POOL_ERROR_CODES.find((c) => c === (e as { code?: unknown }).code) ?? 'EINVAL';
      return finish(sock, fail(code, (e as Error).message));
    }
  }
  if (ACTIONS.includes(req.cmd)) {
    if (req.vassal === undefined) return finish(sock, fail('EINVAL', `${req.cmd} needs a vassal name`));
    for (const v of targets) {
      log.info(
        { event: 'control', cmd: req.cmd, vassal: v.name, peer_uid: peer.uid, peer_pid: peer.pid },
        `control: ${req.cmd} ${v.name} (asked by uid ${peer.uid})`,
      );
      if (req.cmd === 'reload') v.reload('control socket');
      else if (req.cmd === 'stop') v.adminStop();
      else if (req.cmd === 'start') v.adminStart();
      else v.resume();
    }
    return finish(sock, { ok: true, vassal: targets[0].name, state: targets[0].state });
  }
  if (req.cmd === 'status') return finish(sock, { ok: true, stats: await host.status(mayAct) });
  if (req.cmd !== 'logs') return finish(sock, fail('EINVAL', `unknown command ${JSON.stringify(req.cmd)}`));
  if (req.vassal === undefined) targets = host.vassals().filter(mayAct);
  const n = req.lines === undefined ? DEFAULT_LINES : Number(req.lines);
  if (!Number.isInteger(n) || n < 0) return finish(sock, fail('EINVAL', 'bad request: lines must be a whole number'));
  const logs = targets.flatMap((v) => {
    const out = host.output(v);
    return out ? [{ v, out }] : [];
  });
  const lineOf = (v: ControlledVassal, l: OutputLine): ControlAnswer => ({ ok: true, line: { vassal: v.name, ...l } });
  // the last n lines of all of them together, in time order
  const recent = logs.flatMap(({ v, out }) => out.recent(n).map((l) => ({ v, l })));
  recent.sort((a, b) => a.l.time - b.l.time);
  for (const { v, l } of n === 0 ? [] : recent.slice(-n)) send(sock, lineOf(v, l));
  if (!req.follow) return void sock.end();
  const stops = logs.map(({ v, out }) =>
    out.follow((l) => {
      if (sock.writableEnded) return;
      // a tyrant's vassal changes hands when its file does: the right to read is asked again at every line
      if (!mayAct(v)) return finish(sock, fail('EPERM', `permission denied: vassal ${v.name} runs as uid ${v.uid} now`));
      if (sock.writableLength > MAX_UNSENT) return finish(sock, fail('ESLOW', 'the reader did not keep up: follow again'));
      send(sock, lineOf(v, l));
    }),
  );
  sock.once('close', () => stops.forEach((s) => s()));
  // a follower sends nothing more; its end is its hang-up
  sock.on('end', () => sock.end());
}
