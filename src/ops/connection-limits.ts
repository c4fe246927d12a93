// Who holds the operator servers' connections: each server admits at most so many connections in all and so many per
// peer (a unix socket's peer uid, as the kernel says it with SO_PEERCRED; a TCP peer's address), so that no client
// can hold the descriptors a vassal needs to start. A refused connection is closed at once, counted, and said once
// per episode. Root and the emperor's own user are counted per peer but never against the total: an admin gets in
// while tenants hold every other place.
import type * as net from 'node:net';
import type { Logger } from '../log';
import { peerCredentials, type PeerCredentials } from '../native';

export type OperatorServer = 'control' | 'stats' | 'metrics';

export interface ConnectionCaps {
  /** Connections of ordinary peers held at once. */
  total: number;
  /** Connections of one peer (a uid, or a TCP address) held at once. */
  perPeer: number;
}

/** The caps of each server (said in the README's threat model). */
const CAPS: Record<OperatorServer, ConnectionCaps> = {
  control: { total: 128, perPeer: 16 },
  stats: { total: 64, perPeer: 16 },
  metrics: { total: 32, perPeer: 8 },
};

/** A connection that sends nothing, or takes nothing of its answer, this long is closed (a `logs -f` is exempt). */
export const IDLE_MS = 10_000;

/** An episode of refusals ends after this long without one (then its count is said). */
const EPISODE_QUIET_MS = 10_000;

/** Who is on the other end. */
export type Peer = { kind: 'unix'; credentials: PeerCredentials } | { kind: 'tcp'; address: string };

/** The peer of an accepted socket; throws a NativeError when the kernel cannot say (the socket is gone). */
export function peerOf(sock: net.Socket): Peer {
  if (sock.remoteAddress !== undefined) return { kind: 'tcp', address: sock.remoteAddress };
  return { kind: 'unix', credentials: peerCredentials((sock as unknown as { _handle: { fd: number } })._handle.fd) };
}

/** Whether `uid` may act on everything: root, or the user the emperor itself runs as. */
export function isAdminUid(uid: number): boolean {
  return uid === 0 || uid === process.geteuid!();
}

function describe(p: Peer): string {
  return p.kind === 'unix' ? `uid ${p.credentials.uid}` : p.address;
}

export class ConnectionLimits {
  /** Connections refused since the server started. */
  refusedTotal = 0;
  private ordinary = 0;
  private readonly byPeer = new Map<string, number>();
  private episode?: { refused: number; quiet: NodeJS.Timeout };

  constructor(
    readonly server: OperatorServer,
    private readonly log: Logger,
    private readonly caps: ConnectionCaps = CAPS[server],
  ) {}

  /**
   * Admits `sock` (counted until it closes), or refuses it: destroyed at once, without a word (a last word would be
   * lost anyway to a client whose request is already on its way: the kernel resets the connection). Returns whether
   * it was admitted.
   */
  admit(sock: net.Socket, peer: Peer): boolean {
    const key = describe(peer);
    const admin = peer.kind === 'unix' && isAdminUid(peer.credentials.uid);
    const held = this.byPeer.get(key) ?? 0;
    const why =
      held >= this.caps.perPeer
        ? `${key} holds ${held} connections to the ${this.server} server, its most`
        : !admin && this.ordinary >= this.caps.total
          ? `the ${this.server} server holds ${this.ordinary} connections, its most`
          : undefined;
    if (why) {
      this.refuse(sock, key, why);
      return false;
    }
    this.byPeer.set(key, held + 1);
    if (!admin) this.ordinary++;
    sock.once('close', () => {
      const n = (this.byPeer.get(key) ?? 1) - 1;
      if (n > 0) this.byPeer.set(key, n);
      else this.byPeer.delete(key);
      if (!admin) this.ordinary--;
    });
    return true;
  }

  /** Stops the episode's timer (the server is closing). */
  close(): void {
    clearTimeout(this.episode?.quiet);
  }

  private refuse(sock: net.Socket, peer: string, why: string): void {
    sock.destroy();
    this.refusedTotal++;
    if (this.episode) {
      this.episode.refused++;
      this.episode.quiet.refresh();
      return;
    }
    this.log.warn(
      { event: 'connections-refused', server: this.server, peer, reason: why },
      `${this.server} server: refusing connections (${why}); said once until none is refused for ${EPISODE_QUIET_MS / 1000} s`,
    );
    const quiet = setTimeout(() => {
      const refused = this.episode?.refused ?? 0;
      this.episode = undefined;
      this.log.info(
        { event: 'connections-refused-end', server: this.server, refused },
        `${this.server} server: ${refused} connections refused in that episode`,
      );
    }, EPISODE_QUIET_MS);
    quiet.unref();
    this.episode = { refused: 1, quiet };
  }
}
