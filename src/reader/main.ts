// The config reader process: resolves vassal configs for the emperor, off its event loop. It holds no state that
// matters (the emperor kills and restarts it at will), reads every file and runs every command through agents that
// hold the vassal owner's credentials, and answers with the resolved options or the error with its file and line.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { ConfigError, listSections, loadConfig, type ConfigHost, type LoadOptions, type ResolvedConfig } from '../config';
import type { OpenedFile } from '../agent/calls';
import { AgentPool } from '../agent/host';
import { isNativeVassal, pickShell } from '../jail';
import { vassalFacts } from './facts';
import { FileIdentityError, openVassalFile } from './vassal-file';
import { JsonLines } from '../frames';
import { MAX_ANSWER_BYTES, MAX_REQUEST_BYTES, parseRequest, type ReadAnswer, type ReadRequest } from './reader-wire';

const CONTROL_FD = 3;

const agents = new AgentPool({ env: process.env });

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
  const agentHost = agents.host(req.identity, req.budgetMs);
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

function serve(): void {
  const sock = new net.Socket({ fd: CONTROL_FD, readable: true, writable: true });
  const requests = new JsonLines(MAX_REQUEST_BYTES);
  sock.on('data', (chunk: Buffer) => {
    // a request that does not check is the emperor's bug: the reader exits, and the emperor says why
    for (const text of requests.push(chunk)) {
      const req = parseRequest(text);
      let line = JSON.stringify(answer(req));
      if (Buffer.byteLength(line) > MAX_ANSWER_BYTES) {
        line = JSON.stringify({
          id: req.id,
          error: { file: req.spec, line: 0, reason: `the resolved config is over ${MAX_ANSWER_BYTES} bytes`, code: 'EFBIG' },
        });
      }
      sock.write(`${line}\n`);
    }
  });
  // the emperor went away (or closed us as idle): nothing left to do
  sock.on('end', () => process.exit(0));
  sock.on('error', () => process.exit(0));
}

serve();
