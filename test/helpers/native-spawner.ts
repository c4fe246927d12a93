// A separate Node process that spawns through the addon, for what a test cannot do in its own process:
//   hold JSON  - spawn, print the child's pid once it has exec'd, then idle until killed (death-signal tests);
//   try JSON   - spawn once (e.g. run unprivileged, or under a seccomp filter), then print on a line of its own
//                {pid, exit: {code, signal}} once the child exited, with error: {code, errno, syscall, step} beside
//                them when `started` rejected; or only {error} when spawn() itself threw.
import { spawn, type NativeError, type SpawnOptions } from '../../src/native';

const [mode, json] = process.argv.slice(2);
const opts = JSON.parse(json) as SpawnOptions;
const fields = (e: NativeError) => ({ code: e.code, errno: e.errno, syscall: e.syscall, step: e.step });
if (mode === 'hold') {
  const child = spawn(opts, () => {});
  // a setup failure: this process dies before printing, and the test says so
  child.started.then(
    () => process.stdout.write(`${child.pid}\n`),
    (e: NativeError) => {
      process.stderr.write(`setup failed: ${e.message}\n`);
      process.exit(1);
    },
  );
  setInterval(() => {}, 1 << 30);
} else if (mode === 'try') {
  try {
    let error: ReturnType<typeof fields> | undefined;
    const child = spawn(opts, (exit) => process.stdout.write(`\n${JSON.stringify({ pid: child.pid, exit, ...(error && { error }) })}\n`));
    child.started.catch((e: NativeError) => (error = fields(e)));
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: fields(err as NativeError) }));
  }
} else {
  throw new Error(`native-spawner: unknown mode '${mode}'`);
}
