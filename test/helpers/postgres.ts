// A real PostgreSQL (Debian's postgresql) for a test: initdb in a temp dir and the server run as the unprivileged
// 'postgres' user on a free port, ended by pid.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { freePorts } from './ports';
import { until, within } from './wait';

function pgBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(root, v, 'bin', name))) return path.join(root, v, 'bin', name);
  throw new Error(`${name} not found under ${root}: install postgresql (scripts/install-deps.sh)`);
}

export class PostgresServer {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PostgresServer> {
    const [port] = await freePorts(1);
    const dir = fs.mkdtempSync('/tmp/emperor-pg-');
    fs.chmodSync(dir, 0o755);
    const owner = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    fs.chownSync(dir, Number(owner), Number(owner));
    const s = new PostgresServer(dir, port);
    execFileSync(
      'runuser',
      ['-u', 'postgres', '--', pgBin('initdb'), '-D', `${dir}/data`, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'],
      { stdio: 'ignore' },
    );
    s.child = spawn(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        pgBin('postgres'),
        '-D',
        `${dir}/data`,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    s.child.stderr!.setEncoding('utf8').on('data', (d: string) => (s.log = (s.log + d).slice(-4000)));
    await until(
      async () => {
        if (s.child?.exitCode !== null) throw new Error(`postgres exited: ${s.log}`);
        const c = s.client();
        try {
          await c.connect();
          return true;
        } finally {
          await c.end().catch(() => undefined);
        }
      },
      `postgres on port ${port}`,
      20000,
    );
    return s;
  }

  /** libpq keyword=value connection string, as uWSGI's pg:// takes it. */
  get conninfo(): string {
    return `host=127.0.0.1 port=${this.port} user=postgres dbname=postgres`;
  }

  client(): Client {
    return new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
  }

  async destroy(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      // runuser passes the signal on; SIGQUIT is postgres's immediate shutdown
      child.kill('SIGQUIT');
      await within(gone, 10000, 'postgres to exit').catch(() => child.kill('SIGKILL'));
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
