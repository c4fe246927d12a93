// The benchmarks' command line: `--name value` pairs, each with its default.
const args = process.argv.slice(2);

/** The value after `--name`, or `def` when the option is not given. */
export function option(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}
