// The config reader process: resolves vassal configs for the emperor, off its event loop. It holds no state that
// matters (the emperor kills and restarts it at will), reads every file and runs every command through agents that
// hold the vassal owner's credentials, and answers with the resolved options or the error with its file and line.
// It works on one request per turn of its event loop, so that a cancel line written after a batch is seen before the
// next request of it starts. It exits when the emperor closes its channel, after its agents have exited.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { ConfigError, listSections, loadConfig, type ConfigHost, type LoadOptions, type ResolvedConfig } from '../config';
import type { OpenedFile } from '../agent/calls';
import { AgentPool } from '../agent/host';
import { HelperCgroups } from '../cgroup/helpers';
import { CheckError } from '../check';
import { isNativeVassal, pickShell } from '../jail';
import { vassalFacts } from './facts';
import { FileIdentityError, openVassalFile } from './vassal-file';
import { JsonLines, WireError } from '../frames';
import { CANCELLED, MAX_ANSWER_BYTES, MAX_REQUEST_BYTES, parseRequest, type ReadAnswer, type ReadRequest } from './reader-wire';

const CONTROL_FD = 3;

/** `--cgroup DIR`: this reader's own cgroup directory, where each of its agents gets one of its own. */
function cgroupArgument(): HelperCgroups | undefined {
  const i = process.argv.indexOf('--cgroup');
  return i > 0 && process.argv[i + 1] ? new HelperCgroups(process.argv[i + 1]) : undefined;
}

const agents = new AgentPool({ env: process.env, cgroups: cgroupArgument() });

/** Failures that say nothing of the file (a hung mount, a dead agent): they fail the whole listing, changing nothing. */
const TRANSIENT = new Set(['ETIMEDOUT', 'EAGAIN', 'EBUSY', 'EAGENT']);

/** What changes a vassal's instance: its options and their values, in order (not the lines they are on). */
function digestOf(read: () => ResolvedConfig): string {
  try {
    return createHash('sha256')
      .update(JSON.stringify(read().options.map((o) => [o.key, o.value])))
      .digest('hex');
  } catch (e) {
    // a section that does not resolve is still a vassal: it shows its error, and a fix changes its digest
    if (e instanceof ConfigError && !TRANSIENT.has(e.code)) return `error: ${e.message}`;
    throw e;
  }
}

function answer(req: ReadRequest): ReadAnswer {
  const agentHost = agents.host(req.identity, req.budgetMs, req.env);
  let opened: OpenedFile | undefined;
  try {
    let host: ConfigHost = agentHost;
    // a tyrant's vassal file: opened once and judged before any of it is resolved or run
    if (req.identity) ({ host, opened } = openVassalFile(agentHost, req.spec, req.cwd, req.identity, req.tyrantNofollow));
    const opts: LoadOptions = {
      host,
      cwd: req.cwd,
      isReload: req.isReload,
      set: req.set,
      includes: req.includes,
      includesBefore: req.includesBefore,
      inherits: req.inherits,
      inheritsBefore: req.inheritsBefore,
      facts: vassalFacts(req.identity, req.binaryPath),
      env: req.env ?? process.env,
    };
    if (req.sections) {
      // every section resolved as its own vassal would be, each within what is left of the one budget
      const found = listSections(req.spec, opts);
      const names = [...(found.hasDefault ? [null] : []), ...found.named];
      return {
        id: req.id,
        sections: names.map((section) => ({
          section,
          digest: digestOf(() => loadConfig(section === null ? req.spec : `${req.spec}:${section}`, opts)),
        })),
      };
    }
    const config = loadConfig(req.spec, opts);
    const isNative = isNativeVassal(config);
    // binsh is looked at only for native vassals, and as the vassal
    const shell = isNative ? pickShell(config.options, (p) => host.isExecutable(p)) : '/bin/sh';
    if (!opened) return { id: req.id, config, shell };
    // a uWSGI vassal reads its file itself: it is given these bytes (src/emperor/config-snapshot.ts)
    return { id: req.id, config, shell, opened: opened.facts, ...(isNative ? {} : { bytes: opened.bytes.toString('base64') }) };
  } catch (e) {
    const err = e instanceof ConfigError ? e : new ConfigError(req.spec, 0, `internal error: ${(e as Error).message}`);
    const facts = e instanceof FileIdentityError ? { opened: e.facts } : {};
    return { id: req.id, error: { file: err.file, line: err.line, option: err.option, reason: err.reason, code: err.code, ...facts } };
  }
}

function errorLine(req: ReadRequest, reason: string, code: string): string {
  return JSON.stringify({ id: req.id, error: { file: req.spec, line: 0, reason, code } });
}

function serve(): void {
  const sock = new net.Socket({ fd: CONTROL_FD, readable: true, writable: true });
  const requests = new JsonLines(MAX_REQUEST_BYTES);
  const waiting: ReadRequest[] = [];
  let turn: NodeJS.Immediate | undefined;
  let ending = false;

  // the emperor went away, closed this reader, or wrote what its wire does not say: the agents end first
  const end = (code: number) => {
    if (ending) return;
    ending = true;
    clearImmediate(turn);
    sock.destroy();
    const exit = () => process.exit(code);
    agents.close().then(exit, exit);
  };

  const next = () => {
    turn = undefined;
    const req = waiting.shift();
    if (!req) return;
    let line = JSON.stringify(answer(req));
    if (Buffer.byteLength(line) > MAX_ANSWER_BYTES) line = errorLine(req, `the resolved config is over ${MAX_ANSWER_BYTES} bytes`, 'EFBIG');
    sock.write(`${line}\n`);
    if (waiting.length > 0) turn = setImmediate(next);
  };

  sock.on('data', (chunk: Buffer) => {
    let lines: string[];
    try {
      lines = requests.push(chunk);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      process.stderr.write(`emperor-reader: ${e.message}\n`);
      return end(2);
    }
    for (const text of lines) {
      let msg;
      try {
        msg = parseRequest(text);
      } catch (e) {
        // a request that does not check is the emperor's bug: the reader exits, and the emperor says why
        if (!(e instanceof CheckError)) throw e;
        process.stderr.write(`emperor-reader: ${e.message}\n`);
        return end(2);
      }
      if ('cancel' in msg) {
        const taken = waiting.splice(0);
        if (taken.length > 0) sock.write(`${taken.map((r) => errorLine(r, 'taken back by the emperor', CANCELLED)).join('\n')}\n`);
        continue;
      }
      waiting.push(msg);
    }
    turn ??= setImmediate(next);
  });
  sock.on('end', () => end(0));
  sock.on('error', () => end(0));
}

serve();
