// The jail plan's vocabulary is one table on each side: src/jail/plan.ts (PLAN_OP_ARITY, LIBC_CALLS) and
// native/init/steps.cc (kOps, kLibcCalls). These tests read both and fail on any difference, and check that what the
// compiler emits stays inside the vocabulary. (That the init refuses anything else: test/jail.init.test.ts.)
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inheritStep } from '../src/jail/compile';
import { LIBC_CALLS, PLAN_OP_ARITY } from '../src/jail/plan';
import { braceBlock, nativeSource } from './helpers/native-source';
import { planOf } from './fixtures/vassal/harness';

const steps = nativeSource('init/steps.cc');

test("the init's op table (steps.cc kOps) is plan.ts PLAN_OP_ARITY: the same names, the same arities", () => {
  const rows = [...braceBlock(steps, 'const OpSpec kOps[] =').matchAll(/\{"([\w-]+)",\s*(kArgv|\d+),/g)];
  const cxx = Object.fromEntries(rows.map((m) => [m[1], m[2] === 'kArgv' ? 'argv' : Number(m[2])]));
  assert.equal(rows.length, Object.keys(cxx).length, 'no op twice in kOps');
  assert.deepEqual(cxx, { ...PLAN_OP_ARITY });
});

test('the call: symbols (steps.cc kLibcCalls) are plan.ts LIBC_CALLS', () => {
  const cxx = [...braceBlock(steps, 'const LibcCall kLibcCalls[] =').matchAll(/\{"(\w+)",/g)].map((m) => m[1]);
  assert.deepEqual(cxx, [...LIBC_CALLS]);
});

test('every step the compiler emits is an op of the vocabulary with its arity', () => {
  const plan = planOf('/v/app.ini', [
    'env = A=1',
    'hook-asap = mount:tmpfs none /t',
    'umount-asap = /x rec,detach',
    'shared-socket = 127.0.0.1:80',
    'exec-pre-jail = true',
    'unshare = net,ipc',
    'hook-post-jail = safeexec:true',
    'chroot = /jail',
    'pivot_root = /ns/root /ns/root/.old',
    'hook-as-root = hostname:h',
    'hook-as-root = print:hello',
    'hook-as-root = putenv:B=2',
    'hook-as-root = callret:chdir /',
    'hook-as-root = mkdir:/d',
    'hook-as-root = create:/d/f',
    'hook-as-root = unlink:/d/f',
    'hook-as-root = sticky:/d',
    'hook-as-root = chmod:/d 0755',
    'hook-as-root = chown:/d root root',
    'hook-as-root = write:/d/w text',
    'hook-as-root = appendn:/d/w more',
    'hook-as-root = writefifo:/d/p x',
    'socket = /run/app.sock',
    'http-socket = [::1]:8080',
    'chdir = /app',
    'uid = nobody',
    'cap = net_bind_service',
    'check-interval = 2',
    'mountpoint-check = /app',
    'unprivileged-binary-patch-arg = exec myapp --flag',
    'exec-as-user-atexit = echo bye',
  ]);
  const ops = new Set<string>();
  for (const s of [inheritStep(4, '/v/app.ini'), ...plan.steps]) {
    const arity = PLAN_OP_ARITY[s.op];
    assert.ok(arity !== undefined, `${s.op} is not in the vocabulary`);
    if (arity === 'argv') assert.ok(s.args.length >= 1, `${s.op}: ${s.args.length} arguments`);
    else assert.equal(s.args.length, arity, `${s.op}: ${JSON.stringify(s.args)}`);
    ops.add(s.op);
  }
  assert.deepEqual(
    Object.keys(PLAN_OP_ARITY).filter((op) => !ops.has(op)),
    [],
    'the sample covers the whole vocabulary',
  );
});
