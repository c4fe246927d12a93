#!/usr/bin/env node
// emperor: run an emperor (the default command), show a running one's status, or resolve a config file.
import { Command, CommanderError, Option } from 'commander';
import { AgentPool } from './agent/host';
import { ConfigError, formatConfigJson, formatShowConfig, isTrue, loadConfig, readEmperorConfig } from './config';
import { Emperor } from './emperor/emperor';
import { OPTION_TABLE, OptionError, finalizeOptions, mergeRaw, rawFromConfig, type RawOptions } from './emperor/options';
import { logger } from './log';
import { installProcessPolicy } from './internal-errors';
import { packageVersion } from './package-info';
import { PrivilegeError, dropPrivileges } from './privileges';
import { binaryRealpath, vassalFacts } from './reader/facts';
import { fetchStats, formatStatusTable } from './ops';
import { isRouterOption } from './tables/routers';
import { controlRequest } from './ops/control-client';
import type { ControlRequest, LogLine } from './ops/control-wire';
import type { StatsDocument } from './ops/stats-document';
import { printableText } from './printable';
import { compilePlan, formatPlan, isNativeVassal, pickShell } from './jail';

const USAGE_ERROR = 2;
/** The CLI reads files as its user, through an agent like the emperor's readers, with the same default budget. */
const CLI_BUDGET_MS = 5000;
/** drain and resume-pool: the longest wait for the next answer line (a vassal's stop, then its start elsewhere). */
const POOL_IDLE_MS = 15 * 60_000;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function buildProgram(): Command {
  const program = new Command('emperor')
    .description('A Linux multi-app supervisor and jailer that reads uWSGI Emperor configs')
    .version(packageVersion())
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  addEmperorOptions(program);
  program.action((cmdOpts: Record<string, unknown>) => runEmperor(program, cmdOpts));
  addStatusCommand(program);
  addControlCommands(program);
  addConfigCommand(program);
  return program;
}

/** Every option of OPTION_TABLE (its aliases hidden), and the emperor's own config files. */
function addEmperorOptions(program: Command): void {
  for (const spec of OPTION_TABLE) {
    const help = spec.def !== undefined ? `${spec.help} (default ${spec.def})` : spec.help;
    for (const [i, name] of [spec.key, ...(spec.aliases ?? [])].entries()) {
      const opt = new Option(
        `--${name}${spec.kind === 'bool' ? '' : ` <${spec.arg ?? 'value'}>`}`,
        i === 0 ? help : `alias of --${spec.key}`,
      );
      if (spec.kind === 'list') opt.argParser(collect);
      program.addOption(i === 0 ? opt : opt.hideHelp());
    }
  }
  for (const fmt of ['ini', 'yaml', 'json', 'xml', 'config'] as const) {
    program.option(`--${fmt} <file>`, `read emperor options from a ${fmt === 'config' ? 'config' : fmt} file ([uwsgi] section, as uWSGI)`);
  }
}

/** The default command: the options from the config files and the command line, the privilege drop, the run. */
async function runEmperor(program: Command, cmdOpts: Record<string, unknown>): Promise<never> {
  const agents = new AgentPool({ env: process.env });
  let opts;
  try {
    opts = emperorOptions(program, cmdOpts, agents);
  } finally {
    // before a re-exec through emperor-setpriv: no agent of this process image may outlive it as a stray child
    await agents.close();
  }
  dropPrivileges(opts);
  installProcessPolicy();
  const code = await new Emperor(opts).run();
  process.exit(code);
}

/** `emperor status`: the vassal table of a running emperor. */
function addStatusCommand(program: Command): void {
  program
    .command('status')
    .description('print the vassals of a running emperor, read from its stats server or its control socket')
    .option('--stats <addr>', 'the emperor stats address (host:port or unix socket path)', process.env.EMPEROR_STATS)
    .option('--control <path>', 'the emperor control socket (--emperor-control)', process.env.EMPEROR_CONTROL)
    .option('--json', 'print the raw stats blob')
    .option('--watch [seconds]', 'print it again every so many seconds (default 2) until interrupted')
    .action(async (o: { stats?: string; control?: string; json?: boolean; watch?: string | true }) => {
      if (!o.stats && !o.control)
        throw new CommanderError(
          USAGE_ERROR,
          'emperor.noStats',
          'error: give --stats ADDR or --control PATH (the --emperor-stats address or --emperor-control socket of the running emperor)',
        );
      const fetch = async () => {
        if (o.stats) return fetchStats(o.stats);
        let stats: StatsDocument | undefined;
        await controlRequest(o.control!, { cmd: 'status' }, (a) => {
          if ('stats' in a) stats = a.stats;
        });
        if (!stats) throw new Error(`control ${o.control}: the emperor answered no status`);
        return stats;
      };
      const show = async (clear: boolean) => {
        const blob = await fetch();
        const text = o.json ? `${JSON.stringify(blob, null, 2)}\n` : formatStatusTable(blob);
        process.stdout.write(clear ? `\x1b[H\x1b[2J${text}` : text);
      };
      if (o.watch === undefined) return show(false);
      const seconds = o.watch === true ? 2 : Number(o.watch);
      if (!(seconds > 0)) throw new CommanderError(USAGE_ERROR, 'emperor.badWatch', `error: --watch ${o.watch}: give a number of seconds`);
      for (;;) {
        // on a terminal each table replaces the last; piped, they follow each other with a blank line between
        await show(process.stdout.isTTY);
        if (!process.stdout.isTTY) process.stdout.write('\n');
        await new Promise((r) => setTimeout(r, seconds * 1000));
      }
    });
}

/** `emperor logs`, `reload`, `stop`, `start`, `resume`: requests on the control socket. */
function addControlCommands(program: Command): void {
  const controlPath = (o: { control?: string }): string => {
    if (!o.control)
      throw new CommanderError(
        USAGE_ERROR,
        'emperor.noControl',
        'error: give --control PATH (the --emperor-control socket of the running emperor)',
      );
    return o.control;
  };
  program
    .command('logs [name]')
    .description("print a vassal's recent output (every vassal's without NAME), then follow it with -f")
    .option('--control <path>', 'the emperor control socket (--emperor-control)', process.env.EMPEROR_CONTROL)
    .option('-n, --lines <n>', 'recent lines to print first', '15')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--json', 'one JSON object per line')
    .action(async (name: string | undefined, o: { control?: string; lines: string; follow?: boolean; json?: boolean }) => {
      const lines = Number(o.lines);
      if (!Number.isInteger(lines) || lines < 0)
        throw new CommanderError(USAGE_ERROR, 'emperor.badLines', `error: -n ${o.lines}: give a whole number of lines`);
      const req: ControlRequest = { cmd: 'logs', vassal: name, lines, follow: !!o.follow };
      await controlRequest(controlPath(o), req, (a) => {
        if ('line' in a) process.stdout.write(o.json ? `${JSON.stringify(a.line)}\n` : formatLogLine(a.line));
      });
    });
  for (const [cmd, what] of [
    ['reload', 'reload a vassal gracefully (as a touch of its file does)'],
    ['stop', 'stop a vassal and keep it stopped until its file changes or `emperor start`'],
    ['start', 'start a stopped, throttled, broken or exiled vassal now'],
    ['resume', "clear a vassal's throttle and start it now if it waits"],
  ] as const) {
    program
      .command(`${cmd} <name>`)
      .description(what)
      .option('--control <path>', 'the emperor control socket (--emperor-control)', process.env.EMPEROR_CONTROL)
      .action(async (name: string, o: { control?: string }) => {
        await controlRequest(controlPath(o), { cmd, vassal: name }, (a) => {
          if ('state' in a) process.stdout.write(`${cmd} ${printableText(a.vassal ?? name)}: ${printableText(a.state)}\n`);
        });
      });
  }

  for (const [cmd, what] of [
    ['drain', 'hand every vassal of this pool node over to the other nodes, one at a time; then claim nothing until resume-pool'],
    ['resume-pool', 'end a drain: this node claims its share of the pool again'],
  ] as const) {
    program
      .command(cmd)
      .description(what)
      .option('--control <path>', 'the emperor control socket (--emperor-control)', process.env.EMPEROR_CONTROL)
      .action(async (o: { control?: string }) => {
        // each answer line comes once a vassal runs on another node: the emperor bounds every step, the CLI waits
        await controlRequest(
          controlPath(o),
          { cmd },
          (a) => {
            if ('state' in a)
              process.stdout.write(a.vassal ? `${printableText(a.vassal)}: ${printableText(a.state)}\n` : `${printableText(a.state)}\n`);
          },
          POOL_IDLE_MS,
        );
      });
  }
}

/** `emperor config FILE`: a vassal file resolved, or its jail plan. */
function addConfigCommand(program: Command): void {
  program
    .command('config <file>')
    .description("resolve a vassal file as uWSGI would and print it (uWSGI's --show-config form)")
    .option('--json', 'print JSON with the file and line of every option')
    .option('--plan', "print a native vassal's jail plan, step by step")
    .option('--reload', 'resolve as on a reload (if-reload blocks on, if-not-reload off)')
    .action(async (file: string, o: { json?: boolean; plan?: boolean; reload?: boolean }) => {
      const agents = new AgentPool({ env: process.env });
      try {
        const host = agents.host(null, CLI_BUDGET_MS);
        const cfg = loadConfig(file, { host, isReload: !!o.reload, facts: vassalFacts(null, binaryRealpath('uwsgi', process.env.PATH)) });
        for (const w of cfg.warnings) process.stderr.write(`warning: ${w.file}:${w.line}: ${w.message}\n`);
        if (o.plan) {
          if (!isNativeVassal(cfg))
            throw new CommanderError(
              1,
              'emperor.notNative',
              `${file} is a uWSGI vassal (no *-binary-patch option): it has no jail plan, uWSGI runs it`,
            );
          const shell = pickShell(cfg.options, (p) => host.isExecutable(p));
          process.stdout.write(formatPlan(compilePlan(cfg, { vassal: file, firstRun: !o.reload, shell })));
        } else process.stdout.write(o.json ? formatConfigJson(cfg) : formatShowConfig(cfg));
      } finally {
        await agents.close();
      }
    });
}

/** `pm2 logs` style: the vassal and the stream before each line; nothing in it reaches the terminal unescaped. */
function formatLogLine(l: LogLine): string {
  const cut = l.truncated ? ` [${l.truncated} more bytes]` : '';
  return `${printableText(l.vassal)} ${l.stream} | ${printableText(l.line)}${cut}\n`;
}

/** The emperor's options: its own config file first, the command line over it. */
function emperorOptions(program: Command, cmdOpts: Record<string, unknown>, agents: AgentPool) {
  const fromFile: RawOptions[] = [];
  for (const fmt of ['ini', 'yaml', 'json', 'xml', 'config']) {
    const file = cmdOpts[fmt];
    if (typeof file !== 'string') continue;
    const cfg = readEmperorConfig(file, agents.host(null, CLI_BUDGET_MS), vassalFacts(null, binaryRealpath('uwsgi', process.env.PATH)));
    for (const w of cfg.warnings) logger().warn({ event: 'config-warning', file: w.file, line: w.line }, w.message);
    const { raw, ignored } = rawFromConfig(cfg.options, isTrue);
    for (const o of ignored) {
      if (isRouterOption(o.key))
        logger().warn(
          { event: 'router-option-ignored', option: o.key, file: o.file, line: o.line },
          `${o.file}:${o.line}: ${o.key}: this emperor runs no uWSGI router; ignored (publish endpoints from etcd:// vassals to a proxy instead, see the README)`,
        );
      else
        logger().debug(
          { event: 'option-ignored', option: o.key, file: o.file, line: o.line },
          `${o.file}:${o.line}: ${o.key} is not an emperor option; ignored`,
        );
    }
    fromFile.push(raw);
  }
  const fromCli: RawOptions = new Map();
  for (const spec of OPTION_TABLE) {
    for (const name of [spec.key, ...(spec.aliases ?? [])]) {
      const attr = new Option(`--${name}`).attributeName();
      const v = cmdOpts[attr];
      if (v === undefined || program.getOptionValueSource(attr) !== 'cli') continue;
      const list = fromCli.get(spec.key) ?? [];
      fromCli.set(spec.key, [...list, ...(Array.isArray(v) ? v : [v as string | boolean])]);
    }
  }
  return finalizeOptions(mergeRaw(...fromFile, fromCli));
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      if (e.exitCode !== 0 && !e.code.startsWith('commander.')) process.stderr.write(`${e.message}\n`);
      process.exit(e.code.startsWith('commander.') ? USAGE_ERROR : e.exitCode);
    }
    if (e instanceof OptionError || e instanceof PrivilegeError) {
      process.stderr.write(`emperor: ${e.message}\n`);
      process.exit(USAGE_ERROR);
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`emperor: ${e.message}\n`);
      process.exit(1);
    }
    // an operational failure (a stats address in use, an unreadable directory): the message, not a stack trace
    process.stderr.write(
      `emperor: ${process.env.EMPEROR_LOG_LEVEL === 'debug' ? ((e as Error).stack ?? e) : ((e as Error).message ?? e)}\n`,
    );
    process.exit(1);
  }
}

main().catch((e: unknown) => {
  // main() answers every failure itself; this is a bug's last word
  process.stderr.write(`emperor: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
});
