// A separate Node process that spawns through the addon, for what a test cannot do in its own process:
//   hold JSON  - spawn, print the child's pid, then idle until killed (death-signal tests);
//   try JSON   - spawn once (e.g. run unprivileged, or under a seccomp filter), then print on a line of its own
//                {pid, exit: {code, signal}} once the child exited, or {error: {code, errno, syscall, step}}.
import { spawn, type NativeError, type SpawnOptions } from '../../src/native';

const [mode, json] = process.argv.slice(2);
const opts = JSON.parse(json) as SpawnOptions;
if (mode === 'hold') {
  const child = spawn(opts, () => {});
  process.stdout.write(`${child.pid}\n`);
  setInterval(() => {}, 1 << 30);
} else if (mode === 'try') {
  try {
    const child = spawn(opts, (exit) => process.stdout.write(`\n${JSON.stringify({ pid: child.pid, exit })}\n`));
  } catch (err) {
    const e = err as NativeError;
    process.stdout.write(JSON.stringify({ error: { code: e.code, errno: e.errno, syscall: e.syscall, step: e.step } }));
  }
} else {
  throw new Error(`native-spawner: unknown mode '${mode}'`);
}
