// Where the emperor goes when an etcd member fails (src/etcd/members.ts), and the lease's timing rule
// (src/cluster/lease.ts): an outage of half the TTL leaves the lease above the line where its vassals are stopped.
// No etcd is reached: the clients connect only when called, and every call here is answered by the test.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { EtcdMembers, isMemberFault } from '../src/etcd/members';
import { LeaseKeeper, RETRY_MS } from '../src/cluster/lease';
import { logger } from '../src/log';

test('a call goes to the member in use; a member fault moves on to the next, each member tried once', async (t) => {
  const m = new EtcdMembers(['a:2379', 'b:2379', 'c:2379']);
  t.after(() => m.close());
  const hosts: string[] = [];
  const answer = await m.call(async (c) => {
    hosts.push(m.hostOf(c));
    if (hosts.length < 3) throw new GRPCUnavailableError('connection refused');
    return 'ok';
  });
  assert.equal(answer, 'ok');
  assert.deepEqual(hosts, ['a:2379', 'b:2379', 'c:2379']);
  assert.equal(m.hostOf(m.client), 'c:2379', 'the member that answered stays in use');

  hosts.length = 0;
  await assert.rejects(
    m.call(async (c) => {
      hosts.push(m.hostOf(c));
      throw new GRPCDeadlineExceededError('deadline exceeded');
    }),
    GRPCDeadlineExceededError,
  );
  assert.deepEqual(hosts, ['c:2379', 'a:2379', 'b:2379'], 'round the list, once each');
});

test("etcd's answer to a request is not a member fault: thrown at once, the member kept", async (t) => {
  const m = new EtcdMembers(['a:2379', 'b:2379']);
  t.after(() => m.close());
  let calls = 0;
  await assert.rejects(
    m.call(async () => {
      calls++;
      throw new EtcdLeaseInvalidError('etcdserver: requested lease not found');
    }),
    EtcdLeaseInvalidError,
  );
  assert.equal(calls, 1);
  assert.equal(m.hostOf(m.client), 'a:2379');
  assert.equal(isMemberFault(new Error('a bug of ours')), false);
});

test('a stream that fails to open gives its member up; a failure of a member no longer in use moves nothing', async (t) => {
  const m = new EtcdMembers(['a:2379', 'b:2379']);
  t.after(() => m.close());
  const first = m.client;
  await assert.rejects(
    m.stream(() => Promise.reject(new GRPCUnavailableError('refused'))),
    GRPCUnavailableError,
  );
  assert.equal(m.hostOf(m.client), 'b:2379');
  m.failed(first);
  assert.equal(m.hostOf(m.client), 'b:2379', 'a late failure of the member given up already');
  const { stream, client } = await m.stream(async (c: Etcd3) => `stream on ${m.hostOf(c)}`);
  assert.equal(stream, 'stream on b:2379');
  assert.equal(client, m.client);
});

test('the lease: a keepalive every 0.5 s at most, and an outage of half the TTL ends above the stop line (TTL 4 s and more)', (t) => {
  const m = new EtcdMembers(['a:2379']);
  t.after(() => m.close());
  const events = { granted() {}, danger() {}, expiring() {}, alive() {}, lost() {} };
  for (const ttl of [4, 5, 6, 10, 30, 60, 300]) {
    const k = new LeaseKeeper(m, ttl, logger(), events);
    const T = ttl * 1000;
    assert.ok(k.keepaliveMs <= 500 && k.keepaliveMs <= T / 6, `TTL ${ttl}: a keepalive every ${k.keepaliveMs} ms`);
    assert.ok(k.marginMs >= 500 && k.marginMs <= 2000, `TTL ${ttl}: the kill margin ${k.marginMs} ms`);
    assert.equal(k.dangerMs, 2 * k.marginMs);
    // the last answer is at most one keepalive old when etcd goes; it answers again within a reopen period
    const leftAfterHalf = T - k.keepaliveMs - T / 2 - RETRY_MS;
    assert.ok(
      leftAfterHalf > k.dangerMs,
      `TTL ${ttl}: ${leftAfterHalf} ms left after an outage of half the TTL, stop line ${k.dangerMs} ms`,
    );
    assert.ok(k.stuckMs <= T / 4, `TTL ${ttl}: a member silent for ${k.stuckMs} ms is given up`);
  }
});
