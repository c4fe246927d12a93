// The members of one etcd cluster, as an etcd:// spec lists them (etcd://h1:2379,h2:2379,h3:2379/prefix), and the
// one in use. etcd3's own pool picks a random host per call and, with its retry policies off, fails a call on a dead
// host instead of trying the next; so each member gets a client of its own, and the emperor decides where to go:
// the member in use until it fails (an error, or no answer in time), then the next one in the list, round. A stream
// (a watch, the lease keepalives) that breaks or stops answering moves on the same way; a unary call is tried on each
// member once before it fails.
import {
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCUnavailableError,
  GRPCUnknownError,
  GRPCGenericError,
  type Etcd3,
} from 'etcd3';
import { etcdClient } from './client';

/**
 * Whether an error says something about the member (unreachable, too slow, no leader, a broken connection) rather than
 * about the request: only then is another member worth trying. etcd's "no leader" and "request timed out" are
 * UNAVAILABLE.
 */
export function isMemberFault(e: unknown): boolean {
  return (
    e instanceof GRPCUnavailableError ||
    e instanceof GRPCDeadlineExceededError ||
    e instanceof GRPCCancelledError ||
    e instanceof GRPCInternalError ||
    e instanceof GRPCUnknownError ||
    // a connection-level failure etcd3 could not classify
    (e instanceof GRPCGenericError && e.constructor === GRPCGenericError)
  );
}

export class EtcdMembers {
  private readonly clients: Etcd3[];
  private current = 0;

  constructor(readonly hosts: readonly string[]) {
    this.clients = hosts.map((h) => etcdClient(h));
  }

  /** The member to talk to now. */
  get client(): Etcd3 {
    return this.clients[this.current];
  }

  /** host:port of a client of this set. */
  hostOf(c: Etcd3): string {
    return this.hosts[this.clients.indexOf(c)] ?? '?';
  }

  /** `c` failed: the next member is used from now on (unless another failure has moved on from `c` already). */
  failed(c: Etcd3): void {
    if (this.clients[this.current] === c) this.current = (this.current + 1) % this.clients.length;
  }

  /**
   * A unary call (fn sets its own deadline) on the member in use; a member fault moves on to the next member, each
   * member is tried once. Any other error is etcd's answer to the request and is thrown at once.
   */
  async call<T>(fn: (c: Etcd3) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.clients.length; i++) {
      const c = this.client;
      try {
        return await fn(c);
      } catch (e) {
        if (!isMemberFault(e)) throw e;
        last = e;
        this.failed(c);
      }
    }
    throw last;
  }

  /** Opens a stream (a watch, the lease keepalives) on the member in use; a failure to open gives that member up. */
  async stream<S>(open: (c: Etcd3) => Promise<S>): Promise<{ stream: S; client: Etcd3 }> {
    const client = this.client;
    try {
      return { stream: await open(client), client };
    } catch (e) {
      this.failed(client);
      throw e;
    }
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
