// The etcd3 client of one etcd member, with the settings every etcd user of the emperor shares (EtcdMembers holds one
// per member): the client's own retry and circuit-breaker policies are off (each caller retries with its own backoff
// and its own log line, and a restarted etcd must be used at once, not after a breaker's 5 s), every unary call has a
// deadline, gRPC reconnects within half a second of a member coming back, and gRPC keepalive pings find a connection
// that silently stopped answering (a partition, not a refused port).
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';

/** A unary call to etcd that takes longer than this has failed (the caller retries). */
export const CALL_MS = 3000;

export function etcdClient(host: string): Etcd3 {
  return new Etcd3({
    hosts: `http://${host}`,
    faultHandling: { global: noop, host: () => noop },
    grpcOptions: {
      // etcd refuses pings closer than 5 s (--grpc-keepalive-min-time)
      'grpc.keepalive_time_ms': 6000,
      'grpc.keepalive_timeout_ms': 3000,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 500,
    },
  });
}

export function deadline(ms = CALL_MS): { deadline: Date } {
  return { deadline: new Date(Date.now() + ms) };
}

/** The end of the range of keys starting with `prefix` (etcd's prefix rule: the last byte below 0xff plus one). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
